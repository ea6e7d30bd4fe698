"""Memory benchmark: turn recall, knowledge search and ingest, on SQLite and on PostgreSQL.

``make bench-memory`` (or ``.venv/bin/python benchmarks/memory.py --help``). For each backend
it creates a fresh store — a SQLite file in a temporary directory, a database on a throwaway
PostgreSQL cluster (``tests.support.postgres.PostgresCluster``) — and fills it with synthetic
customers written in bulk with SQL: a profile with identifiers and traits, observations, and
one closed conversation with its summary and transcript each. The knowledge base, generated
Markdown documents, goes in through ``store.ingest()``, timed: ingest throughput is a target.
Then, after a warm-up, it measures one request at a time:

1. the baseline: a trivial round trip through the store's own machinery (``SELECT 1`` on the
   SQLite store's database thread, or through the PostgreSQL store's pool);
2. knowledge search: ``store.search_knowledge(question, 3)`` (the full-text path);
3. recall as the recall activity runs it: ``store.recall()`` for a random known customer and
   a realistic customer message, then ``format_context()`` — with, inside each recall, the
   time of its profile read and of its knowledge search, to show where the time goes.

Results are printed side by side, as percentiles and as ratios to the baseline, against the
targets, with the CPU per request (this process, and the PostgreSQL server processes) and
how many chunks each search scores (those with the question's telling terms), and
saved as JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import DATABASES, ROOT, CpuMeter, pct, save_results, summary
from switchboard.memory import MemoryStore, open_store
from switchboard.memory.chunking import chunk_text
from switchboard.memory.context import format_context
from switchboard.memory.models import DocumentIn, RecallQuery
from switchboard.memory.text_search import fts5_query, search_terms, tsquery

TARGETS = {"recall_p95_ms": 10.0, "search_p95_ms": 15.0, "ingest_chunks_per_s": 200.0}
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# --- vocabulary: an outdoor retailer's customers and help centre -----------------------------

CATEGORIES: dict[str, list[str]] = {
    "footwear": ["hiking boots", "trail running shoes", "sandals", "winter boots",
                 "approach shoes", "insoles", "gaiters", "wool socks"],
    "apparel": ["rain jacket", "down jacket", "fleece pullover", "merino base layer",
                "hiking pants", "softshell jacket", "insulated gloves", "sun hoodie"],
    "camping": ["tent", "sleeping bag", "sleeping pad", "camp stove", "cookware set",
                "water filter", "lantern", "hammock"],
    "climbing": ["climbing harness", "climbing shoes", "climbing helmet", "dynamic rope",
                 "carabiners", "chalk bag", "belay device", "crash pad"],
    "cycling": ["mountain bike", "gravel bike", "bike helmet", "bike lights", "panniers",
                "cycling shorts", "bike lock", "tubeless tires"],
    "electronics": ["GPS watch", "headlamp", "power bank", "satellite messenger",
                    "action camera", "solar charger", "two-way radio", "bike computer"],
    "packs": ["daypack", "backpacking pack", "hydration pack", "duffel bag", "waist pack",
              "pack rain cover", "travel pack", "dry bag"],
    "paddling": ["touring kayak", "inflatable paddleboard", "life jacket", "carbon paddle",
                 "wetsuit", "dry suit", "spray skirt", "roof rack"],
}  # fmt: skip
ALL_PRODUCTS = [p for products in CATEGORIES.values() for p in products]
WORDS: dict[str, list[str]] = {
    "days": ["14", "30", "45", "60", "90", "365"],
    "amount": ["$4.95", "$7.50", "$9.99", "$12", "$15", "$25", "$35", "$49"],
    "place": ["Canada", "Mexico", "the United Kingdom", "Germany", "France", "Japan",
              "Australia", "New Zealand", "Alaska", "Hawaii", "Puerto Rico", "Norway",
              "Switzerland", "Chile", "Iceland", "Ireland"],
    "city": ["Denver", "Seattle", "Portland", "Boulder", "Salt Lake City", "Bend", "Boise",
             "Flagstaff", "Asheville", "Burlington", "Duluth", "Missoula", "Sacramento",
             "Minneapolis", "Chattanooga", "Anchorage"],
    "carrier": ["UPS", "FedEx", "USPS", "DHL", "Canada Post", "OnTrac"],
    "material": ["Gore-Tex", "merino wool", "ripstop nylon", "full-grain leather",
                 "goose down", "synthetic insulation", "aluminium", "carbon fibre",
                 "recycled polyester", "Vibram rubber", "neoprene", "Dyneema", "EVA foam"],
    "color": ["black", "navy", "olive", "red", "orange", "sand", "forest green", "grey",
              "sky blue", "burgundy", "yellow", "charcoal"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "month": ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"],
    "part": ["zipper", "buckle", "sole", "strap", "seam", "hip belt", "lens", "battery",
             "charging port", "valve", "tent pole", "frame", "stitching", "laces", "hood",
             "toggle", "screen", "fin", "drawcord", "shoulder strap", "rand", "outsole"],
    "problem": ["leaks at the seams", "cracked", "started to delaminate", "stopped charging",
                "ripped", "faded after one wash", "lost its loft", "squeaks", "won't turn on",
                "smells musty", "came unstitched", "fogs up", "lost air overnight",
                "rubs my heel", "shows the wrong time", "pilled"],
    "activity": ["backpacking", "thru-hiking", "trail running", "bouldering", "sport climbing",
                 "bikepacking", "gravel riding", "sea kayaking", "whitewater paddling",
                 "snowshoeing", "ski touring", "car camping", "fly fishing",
                 "mountaineering", "canyoneering", "overlanding", "via ferrata", "hut trips"],
    "landmark": ["Yosemite", "Patagonia", "the Dolomites", "Zion", "the Grand Canyon",
                 "the Appalachian Trail", "the John Muir Trail", "Banff", "Glacier",
                 "the Boundary Waters", "Moab", "the Tetons", "Mount Rainier", "Big Sur",
                 "the Pacific Crest Trail", "the Adirondacks", "Joshua Tree", "Acadia"],
    "season": ["spring", "summer", "autumn", "winter", "the shoulder season",
               "monsoon season", "ski season"],
    "tier": ["Basecamp", "Summit", "Peak"],
    "feature": ["waterproof membrane", "reflective trim", "adjustable torso length",
                "pit zips", "helmet-compatible hood", "rechargeable battery",
                "two-year warranty", "recycled fabric", "replaceable soles",
                "Bluetooth pairing", "offline maps", "bear-resistant canister sleeve",
                "magnetic buckle", "quick-release straps", "UPF 50 sun protection"],
    "condition": ["unworn", "unused", "unwashed", "in its original packaging",
                  "with all tags attached", "lightly used", "clean and dry"],
    "size": ["small", "medium", "large", "extra large", "size 9", "size 10.5", "size 42",
             "size 38", "a women's 8", "a men's 11", "a kids' 3"],
    "name": ["Ada", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Imani",
             "Jonas", "Kira", "Liam", "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa",
             "Sam", "Tomas", "Uma", "Victor", "Wen", "Yara", "Zane"],
    "pet": ["dog", "border collie", "husky", "labrador", "cat", "beagle"],
    "relation": ["daughter", "son", "partner", "father", "mother", "brother", "sister"],
    "channel": ["WhatsApp", "text messages", "email", "phone calls"],
    "terrain": ["scree", "slickrock", "granite slabs", "muddy singletrack", "packed snow",
                "sand dunes", "boulder fields", "forest service roads", "glacier moraine",
                "wet roots", "lava rock", "tundra", "switchbacks", "river crossings"],
    "weather": ["it rained all afternoon", "the wind picked up", "temperatures dropped below "
                "freezing", "a thunderstorm rolled in", "it was humid", "fog settled in the "
                "valley", "it snowed overnight", "the sun was relentless"],
    "grams": ["85", "140", "320", "450", "680", "910", "1200", "1650", "2300"],
    "number": ["3", "5", "8", "12", "21", "40", "150", "600"],
    "object": ["water bottle", "grapefruit", "loaf of bread", "coffee mug", "football"],
    "when": ["last week", "two weeks ago", "yesterday", "a month ago", "in the summer sale",
             "on Black Friday", "three days ago", "before Christmas"],
}  # fmt: skip

# Help-centre topics: (title, sections, sentences). ``{p}`` is a product of the document's
# category; other slots come from WORDS.
TOPICS: list[tuple[str, list[str], list[str]]] = [
    ("Returns", ["Return window", "Condition of returned items", "Items that cannot be returned",
                 "Returning by mail", "Returning in store", "Return shipping labels",
                 "Returning a gift", "Late returns", "Returns from abroad"], [
        "You can return {p} within {days} days of delivery if it is {condition}.",
        "Returns by mail need a prepaid label from your account; {carrier} drop-off is free.",
        "A {p} that {problem} within the return window can be returned even if used.",
        "Bring the {p} and the order number to any store, for example our {city} store.",
        "Gift returns are refunded as store credit to the person who returns the {p}.",
        "Returns from {place} are accepted, but the return shipping of {amount} is not refunded.",
        "Final sale items, used {p} and personalised gear cannot be returned.",
        "After {days} days we can only accept a {p} under the warranty.",
    ]),
    ("Refunds", ["When refunds are issued", "Refund methods", "Partial refunds",
                 "Duplicate charges", "Price adjustments", "Cancelled orders",
                 "Store credit"], [
        "Refunds for {p} are issued to the original payment method within {days} days.",
        "A refund appears on your card statement three to five business days after we process it.",
        "If you were charged twice for one order, the duplicate charge is an authorisation hold.",
        "Price adjustments apply when the {p} goes on sale within {days} days of purchase.",
        "Partial refunds of {amount} are issued when accessories of the {p} are missing.",
        "Store credit never expires and can be used online or in the {city} store.",
        "Orders cancelled before shipping are refunded in full, including shipping.",
    ]),
    ("Exchanges", ["Exchanging for another size", "Exchanging for another colour",
                   "Exchanges in store", "Exchanges by mail", "Out-of-stock exchanges"], [
        "To exchange a {p} for another size, start an exchange from your order page.",
        "We reserve the new {p} in {color} as soon as the exchange is requested.",
        "Exchanges ship free by {carrier} once the original {p} is scanned at drop-off.",
        "If the size you need is out of stock we refund the {p} instead.",
        "Stores can exchange a {p} bought online if it is {condition}.",
    ]),
    ("Shipping", ["Delivery times", "Shipping costs", "Express shipping",
                  "International shipping", "Customs and duties", "Oversized items",
                  "Shipping restrictions"], [
        "Standard shipping of {p} takes three to seven business days with {carrier}.",
        "Express shipping costs {amount} and arrives in one to two business days.",
        "We ship to {place}; duties and taxes are collected at checkout.",
        "Orders over $75 ship free in the contiguous United States.",
        "Oversized items such as a {p} ship by freight and need a delivery appointment.",
        "Fuel canisters, bear spray and lithium batteries cannot ship by air to {place}.",
        "Orders placed before noon on {weekday} usually leave our warehouse the same day.",
    ]),
    ("Order tracking", ["Tracking your order", "Delayed deliveries", "Missing packages",
                        "Damaged packages", "Changing the address", "Split shipments"], [
        "The tracking link for your {p} is in the shipping confirmation email.",
        "{carrier} tracking can take 24 hours to show the first scan.",
        "If a package is marked delivered but missing, check with neighbours, then contact us.",
        "A {p} that arrives damaged is replaced at no cost; keep the box for the carrier.",
        "The delivery address can be changed until the order is packed.",
        "Large orders may arrive in several boxes; each {p} has its own tracking number.",
    ]),
    ("Warranty", ["What the warranty covers", "What it does not cover", "Making a claim",
                  "Proof of purchase", "Lifetime guarantee", "Manufacturer warranties"], [
        "The warranty covers defects in materials and workmanship of the {p}.",
        "Normal wear, such as a worn {part} after years of use, is not a defect.",
        "To make a claim, send photos of the {part} and your order number.",
        "If the {p} {problem} because of a defect, we repair or replace it.",
        "{material} products carry the manufacturer's {days}-day warranty.",
        "Without proof of purchase we can still look up orders by phone number or email.",
    ]),
    ("Repairs", ["Repair service", "Repair prices", "Repair times",
                 "Do-it-yourself repairs", "Replacement parts"], [
        "Our {city} repair shop fixes a broken {part} on most {p} models.",
        "Replacing a {part} costs about {amount} plus return shipping.",
        "Repairs take two to three weeks; in {season} they can take longer.",
        "Field repair kits with {material} patches fix small tears in a {p}.",
        "Replacement parts for the {p}, such as a {part}, are sold online.",
    ]),
    ("Care and cleaning", ["Washing", "Drying", "Storage", "Waterproofing",
                           "Cleaning electronics", "Odour"], [
        "Wash the {p} on a gentle cycle with a technical wash, never with fabric softener.",
        "Dry the {p} on low heat to restore the water repellency of the {material}.",
        "Store the {p} uncompressed in a cool, dry place over {season}.",
        "Reproof the {p} with a spray-on treatment when water stops beading.",
        "If the {p} smells musty, soak it in an enzyme cleaner and air dry it.",
        "Keep the {part} clean and dry, and never use a pressure washer.",
    ]),
    ("Sizing and fit", ["Finding your size", "Fit tips", "Size charts",
                        "Between sizes", "Kids' sizing"], [
        "Our {p} runs true to size; if you are between sizes, size up.",
        "Measure your foot in the afternoon, when it is largest, before ordering a {p}.",
        "The size chart for {p} lists chest, waist and inseam in inches and centimetres.",
        "A {p} in {size} fits most customers who wear {size} in other brands.",
        "Try the {p} with the socks or layers you will wear for {activity}.",
    ]),
    ("Rentals", ["Rental prices", "Reservations", "Pick-up and return",
                 "Damage and late fees", "Rental to purchase"], [
        "You can rent a {p} for a weekend for {amount} at the {city} store.",
        "Reservations open {days} days ahead and fill quickly in {season}.",
        "Rental gear is picked up after 3 pm and returned before noon on {weekday}.",
        "A late return costs {amount} per day; damage beyond normal wear is charged.",
        "If you buy the {p} within a week, the rental fee is credited.",
    ]),
    ("Trade-in", ["How trade-in works", "What we accept", "Trade-in values",
                  "Getting paid"], [
        "Trade in a used {p} in any store and get a gift card for its resale value.",
        "We accept {p} in good condition with a working {part}.",
        "Trade-in values depend on age and condition, up to {amount} for a {p}.",
        "Members of the {tier} tier get ten percent more for trade-ins.",
    ]),
    ("Setup and troubleshooting", ["Getting started", "Pairing with your phone",
                                   "Firmware updates", "Battery and charging",
                                   "Resetting"], [
        "Charge the {p} fully before first use, which takes about two hours.",
        "Pair the {p} with the app over Bluetooth; keep the phone within one metre.",
        "Firmware updates for the {p} install overnight when it is charging.",
        "If the {p} {problem}, hold the power button for fifteen seconds to reset it.",
        "Cold weather drains the battery; keep the {p} in an inside pocket in {season}.",
    ]),
    ("Gift cards", ["Buying gift cards", "Checking a balance", "Lost gift cards",
                    "E-gift cards"], [
        "Gift cards from {amount} to $500 can be used on any {p} online or in stores.",
        "Check a gift card balance with its sixteen-digit number and four-digit PIN.",
        "A lost gift card can be replaced if you have the original receipt.",
        "E-gift cards are delivered by email within an hour and never expire.",
        "Gift cards cannot be redeemed for cash, except where the law requires it.",
    ]),
    ("Loyalty program", ["Joining", "Earning points", "Redeeming rewards",
                         "Membership tiers", "Annual dividend"], [
        "Joining the loyalty program is free; members earn one point per dollar on {p}.",
        "The {tier} tier starts at 500 points and adds free expedited shipping.",
        "Points expire after eighteen months without a purchase.",
        "The annual dividend is paid in {month} as a voucher in your account.",
        "Rewards can be redeemed on a {p} but not on gift cards or rentals.",
    ]),
    ("Accounts and passwords", ["Creating an account", "Resetting your password",
                                "Two-step verification", "Updating your details",
                                "Closing your account"], [
        "Create an account with your email address or phone number to track orders.",
        "If you forgot your password, use the reset link; it is valid for one hour.",
        "Two-step verification sends a six-digit code by text message.",
        "You can change your address, phone number and newsletter preferences online.",
        "Closing your account deletes your order history and loyalty points.",
    ]),
    ("Privacy and your data", ["What we collect", "How we use it", "Deleting your data",
                               "Marketing preferences", "Cookies"], [
        "We keep your purchase history to handle returns and warranty claims.",
        "You can ask us to delete your personal data; we confirm within {days} days.",
        "We never sell personal information to third parties.",
        "Unsubscribe from marketing emails with the link at the bottom of any newsletter.",
        "Analytics cookies are optional and can be turned off in the cookie banner.",
    ]),
    ("Payments and financing", ["Accepted payment methods", "Paying in instalments",
                                "Declined payments", "Tax-exempt orders"], [
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and gift cards.",
        "Orders over $150, such as a {p}, can be paid in four interest-free instalments.",
        "A declined payment is usually a billing address that does not match the card.",
        "Schools and non-profits can order tax-exempt after uploading a certificate.",
        "Pre-authorisation holds disappear from your statement within a few days.",
    ]),
    ("Store pick-up", ["Buy online, pick up in store", "Pick-up times", "Curbside pick-up",
                       "Someone else picking up"], [
        "Choose pick-up at checkout and collect the {p} at the {city} store.",
        "Most pick-up orders are ready within two hours; we text you when it is ready.",
        "Curbside pick-up is available {weekday} to Saturday from 10 am to 7 pm.",
        "Orders are held for seven days, then cancelled and refunded.",
        "Someone else can collect your order with the pick-up code and photo ID.",
    ]),
    ("Classes and events", ["Workshops", "Guided trips", "Booking and cancelling",
                            "Age requirements"], [
        "The {city} store runs free workshops on {activity} every {weekday} evening.",
        "Guided trips to {landmark} include permits, meals and group gear.",
        "Cancel up to seventy-two hours before a class for a full refund.",
        "Participants under sixteen need a parent or guardian on guided trips.",
        "Bring a {p} if you have one; rental gear is included for beginners.",
    ]),
    ("Price matching", ["Our price match policy", "What qualifies", "Exclusions"], [
        "We match the price of an identical {p} sold by a local competitor.",
        "The item must be in stock at the competitor and in the same {color}.",
        "Clearance, auctions and marketplace sellers are excluded from price matching.",
        "Ask for a price match within {days} days of purchase with a link to the offer.",
    ]),
    ("Recalls and safety", ["Current recalls", "Checking your product", "Safety notices"], [
        "If your {p} is part of a recall, stop using it and contact us for a full refund.",
        "Find the batch number printed near the {part} of the {p}.",
        "Climbing and safety gear that has held a fall should be retired.",
        "Recalled items are refunded even without a receipt.",
    ]),
    ("Team and business orders", ["Bulk discounts", "Custom logos", "Invoicing",
                                  "Lead times"], [
        "Teams and businesses ordering ten or more of a {p} get a volume discount.",
        "Custom embroidery or logo printing takes three to four weeks.",
        "Business customers can pay by invoice with thirty-day terms.",
        "Send your purchase order to our business team for a quote within two days.",
    ]),
    ("Sustainability", ["Recycling old gear", "Materials", "Packaging",
                        "Carbon-neutral shipping"], [
        "Drop worn-out {p} in the recycling bin at any store, whatever the brand.",
        "Most of our {material} is recycled or responsibly sourced.",
        "Orders ship in recycled cardboard without plastic fillers.",
        "Shipping emissions are offset through verified forestry projects.",
    ]),
    ("Bike servicing", ["Tune-ups", "Flat tires", "Brake adjustment", "Booking a service"], [
        "A basic tune-up costs {amount} and includes gears, brakes and wheel truing.",
        "Flat tires are fixed while you wait, usually in under thirty minutes.",
        "Book a service online; in {season} allow a week for an appointment.",
        "Bring the {p} clean so our mechanics can inspect the {part}.",
    ]),
]  # fmt: skip

GENERAL = [
    "Many customers use the {p} for {activity} in {landmark}.",
    "The {p} is made of {material} and comes in {color}.",
    "Members of the {tier} tier get free shipping and early access to sales.",
    "Our {city} store can answer questions about the {p} in person, {weekday} to Saturday.",
    "Keep your receipt or order confirmation email until you are sure the {p} is right.",
    "The {feature} of the {p} makes it a favourite for {activity}.",
    "Questions? Message us on {channel}; we answer within a few minutes.",
    "For {activity} in {season}, pair the {p} with a {q}.",
    "Loyalty points are earned on every {p} purchase.",
    "Availability of the {p} in {color} varies by region and season.",
]

DETAILS = [
    "On {terrain} the {p} held up well, even when {weather}.",
    "The {p} weighs {grams} grams and squeezes down to the size of a {object}.",
    "Its {feature} and {material} shell make the {p} a good match for {activity}.",
    "Testers carried the {p} for {number} days through {landmark} in {season}.",
    "In {color} the {p} is easy to spot on {terrain}.",
    "Guides in {landmark} often carry a spare {part} for the {p}.",
    "The {material} lining dries overnight after {weather}.",
    "For {activity} above the tree line, combine it with a {q} and a {feature}.",
    "Reviewers praised the {feature} but found the {part} stiff at first.",
    "After {number} kilometres of {terrain} the {part} showed little wear.",
]
QUESTIONS: list[str] = [
    "Can I return the {p} I bought {when}?",
    "Hi, my {p} {problem}. Can I send it back?",
    "How do I print a return label for my {p}?",
    "Is it too late to return a {p} I bought in {month}?",
    "When will I get my refund for the {p}?",
    "I was charged twice for my {p} order, can you check?",
    "Can the refund for my {p} go on a gift card instead?",
    "Can I exchange my {p} for {size}?",
    "Do you have the {p} in {color}? I'd like to swap mine.",
    "How long does shipping to {place} take?",
    "Do you ship the {p} to {place}?",
    "How much is express shipping for a {p}?",
    "Where is my order? The {p} was supposed to arrive {weekday}.",
    "The {carrier} tracking for my {p} hasn't moved in days",
    "My package says delivered but I don't have it",
    "My {p} {problem} after two months, is that covered by the warranty?",
    "What does the warranty on the {p} cover?",
    "Do you repair {p}? The {part} is broken.",
    "How much does it cost to fix the {part} on my {p}?",
    "How do I wash my {p}?",
    "Can I put the {p} in the dryer?",
    "How should I store my {p} over {season}?",
    "What size {p} should I get? I usually wear {size}.",
    "Does the {p} run small?",
    "Can I rent a {p} for the weekend?",
    "How much is it to rent a {p} for a week in {month}?",
    "What would I get for trading in my old {p}?",
    "How do I pair my {p} with my phone?",
    "My {p} won't turn on after charging",
    "Is the {p} good for {activity} in {landmark}?",
    "What time does the {city} store open on {weekday}?",
    "Is the {p} waterproof? Going {activity} in {season}.",
    "How do I check the balance of my gift card?",
    "How many loyalty points do I have, and when do they expire?",
    "I forgot my password and the reset link doesn't work",
    "Please delete my account and all my data",
    "Can I pay for the {p} in instalments?",
    "My card was declined when I tried to buy a {p}",
    "Can my {relation} pick up my order at the {city} store?",
    "Are there any {activity} workshops in {city} this month?",
    "Do you price match? The {p} is cheaper somewhere else.",
    "Is my {p} part of the recall?",
    "We need 20 {p} for our team, is there a discount?",
    "Can I recycle my old {p} with you?",
    "How much is a tune-up for my {p}?",
]
SMALL_TALK = ["ok thanks!", "yes please", "perfect, thank you", "hello?", "great", "no"]
ANSWERS = [
    "Yes, you can return it within {days} days if it is {condition}. I've sent you a label.",
    "I'm sorry about that. Please send us a photo of the {part} and we'll look at it.",
    "Standard shipping takes three to seven business days with {carrier}.",
    "Your refund was issued today; it shows on your statement in three to five days.",
    "The {city} store opens at 9 am on {weekday}.",
    "I've reserved one in {color} for you; it ships as soon as we receive the original.",
    "We usually recommend sizing up if you're between sizes.",
    "The repair costs about {amount} and takes two to three weeks.",
]
OBSERVATIONS = [
    "Prefers {channel} for order updates",
    "Has a {pet} named {name} that comes along on hikes",
    "Wears {size} in {p}",
    "Bought a {p} in {month} for a trip to {landmark}",
    "Is planning a {activity} trip to {landmark} in {month}",
    "Sensitive to {material}; prefers other materials",
    "Lives near {city} and picks up orders in store",
    "Had a late delivery with {carrier} in {month}",
    "Member of the {tier} tier",
    "Asked us not to call before 10 am",
    "Returned a {p} because it {problem}",
    "Also shops for their {relation}, who wears {size}",
    "Likes {color} gear",
    "Interested in {activity} courses at the {city} store",
    "Uses a {q} for {activity}",
]


class Writer(random.Random):
    """Fills the templates with a seeded random choice of words."""

    def fill(self, template: str, product: str | None = None) -> str:
        values = {
            name: self.choice(words) for name, words in WORDS.items() if f"{{{name}" in template
        }
        values["p"] = product or self.choice(ALL_PRODUCTS)
        values["q"] = self.choice(ALL_PRODUCTS)
        return template.format(**values)

    def paragraph(self, sentences: list[str], product: str) -> str:
        count = self.randint(2, 5) if self.random() < 0.7 else self.randint(6, 11)
        pools = [sentences, DETAILS, GENERAL]
        picked = [self.choices(pools, (60, 32, 8))[0] for _ in range(count)]
        return " ".join(self.fill(self.choice(pool), product) for pool in picked)

    def question(self) -> str:
        return self.fill(self.choice(QUESTIONS))

    def message(self) -> str:
        """A customer's message: a question, now and then small talk (no search terms)."""
        return self.choice(SMALL_TALK) if self.random() < 0.1 else self.question()


# --- the knowledge base ---------------------------------------------------------------------


def knowledge_base(writer: Writer, documents: int, chunks: int) -> list[DocumentIn]:
    """``documents`` Markdown help-centre articles that chunk into ``chunks`` chunks in all."""
    subjects = [(topic, category) for topic in TOPICS for category in CATEGORIES]
    writer.shuffle(subjects)
    docs: list[DocumentIn] = []
    for index in range(documents):
        (title, sections, sentences), category = subjects[index % len(subjects)]
        want = chunks * (index + 1) // documents - chunks * index // documents
        products = CATEGORIES[category]
        lines = [f"# {title}: {category}", "", writer.paragraph(sentences, products[0]), ""]
        have = 1
        for round_ in range(1000):
            if have >= want:
                break
            section = sections[round_ % len(sections)]
            heading = section if round_ < len(sections) else f"{section} (continued)"
            lines += [f"## {heading}", "", writer.paragraph(sentences, writer.choice(products)), ""]
            have += 1
            for product in writer.sample(products, writer.randint(2, 5)):
                if have >= want:
                    break
                body = "\n\n".join(
                    writer.paragraph(sentences, product) for _ in range(writer.randint(2, 5))
                )
                got = len(chunk_text(body, "text/plain"))
                if have + got > want:  # one paragraph is one chunk
                    body, got = writer.paragraph(sentences, product), 1
                lines += [f"### {product[0].upper()}{product[1:]}", "", body, ""]
                have += got
        name = f"{title.lower().replace(' ', '-')}/{category}-{index}.md"
        docs.append(DocumentIn(name=name, content="\n".join(lines)))
    return docs


# --- customers ------------------------------------------------------------------------------


@dataclass
class Customers:
    """Rows for every table, in the schema's column order (times as datetimes)."""

    numbers: list[str] = field(default_factory=list)
    profiles: list[tuple[Any, ...]] = field(default_factory=list)
    identifiers: list[tuple[Any, ...]] = field(default_factory=list)
    traits: list[tuple[Any, ...]] = field(default_factory=list)
    observations: list[tuple[Any, ...]] = field(default_factory=list)
    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)


def customer_number(index: int) -> str:
    return f"+1415{2000000 + index:07d}"


def customers(writer: Writer, profiles: int, observations: int, lines: int) -> Customers:
    """Synthetic customers: profile, identifiers, traits, observations, one past conversation."""
    data = Customers()
    for index in range(profiles):
        number = customer_number(index)
        created = NOW - timedelta(days=writer.uniform(30, 900))
        closed = created + (NOW - created) * writer.uniform(0.3, 0.99)
        data.numbers.append(number)
        data.profiles.append((number, created, closed))
        data.identifiers.append(("phone", number, number, created))
        if writer.random() < 0.6:
            data.identifiers.append(("whatsapp", number, number, created))
        if writer.random() < 0.3:
            email = f"{writer.choice(WORDS['name']).lower()}{index}@example.com"
            data.identifiers.append(("email", email, number, closed))
        traits: dict[str, Any] = {
            "first_name": writer.choice(WORDS["name"]),
            "preferred_channel": writer.choice(WORDS["channel"]),
        }
        if writer.random() < 0.5:
            traits["loyalty_tier"] = writer.choice(WORDS["tier"])
        if writer.random() < 0.3:
            traits["shoe_size"] = writer.choice([8, 9, 9.5, 10, 10.5, 11, 42, 43])
        for name, value in traits.items():
            data.traits.append((number, name, json.dumps(value), "remember", created))
        for seq in range(observations):
            at = created + (NOW - created) * writer.random()
            text = writer.fill(writer.choice(OBSERVATIONS))
            data.observations.append((f"{number}:{seq}", number, text, "remember", at,
                                      json.dumps([f"conv-{number}"])))  # fmt: skip
        run = f"run-{index}"
        channel = writer.choice(["sms", "whatsapp", "voice"])
        said = []
        for seq in range(lines):
            at = closed - timedelta(minutes=lines - seq)
            role = "customer" if seq % 2 == 0 else "assistant"
            text = writer.message() if role == "customer" else writer.fill(writer.choice(ANSWERS))
            said += [text] if role == "customer" else []
            data.lines.append((run, seq, number, role, text, channel, at))
        summary_text = (
            f'The customer asked "{said[0]}" on {channel}' if said else "A short conversation"
        ) + "; we answered and the customer was satisfied."
        data.conversations.append((run, number, f"conv-{number}", closed, summary_text,
                                   "llm summary", closed))  # fmt: skip
    return data


COLUMNS = {
    "profiles": "customer, created_at, updated_at",
    "identifiers": "kind, value, customer, added_at",
    "traits": "customer, name, value, source, at",
    "observations": "key, customer, text, source, at, conversation_ids",
    "conversations": "run_id, customer, conversation_id, closed_at, summary, summary_source, "
    "summary_at",
    "transcript_lines": "run_id, seq, customer, role, text, channel, at",
}


def tables(data: Customers) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    yield "profiles", data.profiles
    yield "identifiers", data.identifiers
    yield "traits", data.traits
    yield "observations", data.observations
    yield "conversations", data.conversations
    yield "transcript_lines", data.lines


def _iso(value: Any) -> Any:
    """As the SQLite store writes times: UTC ISO-8601 text with microseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def load_sqlite(path: Path, data: Customers) -> None:
    """Every customer row in one transaction, through a connection of its own."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        for table, rows in tables(data):
            columns = COLUMNS[table]
            marks = ", ".join("?" * len(columns.split(",")))
            db.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                ([_iso(v) for v in row] for row in rows),
            )
        db.execute("COMMIT")
    finally:
        db.close()


def load_postgres(url: str, data: Customers) -> None:
    """Every customer row with COPY."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        for table, rows in tables(data):
            with cursor.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def postgres_maintenance(url: str) -> None:
    """What autovacuum does in a running system: statistics, and the GIN pending list merged."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- measuring ------------------------------------------------------------------------------


def cpu_meter_for(backends: list[int]) -> CpuMeter:
    """This process (where SQLite runs), and the PostgreSQL server processes serving it."""
    pids = {"bench": os.getpid()}
    pids.update({f"postgres-{pid}": pid for pid in backends})
    return CpuMeter(pids)


def cpu_per_op(meter: CpuMeter, items: int) -> dict[str, float]:
    """Bench-process and database-server CPU per operation (ms)."""
    per = meter.per_item_ms(items)
    server = sum(v for k, v in per.items() if k.startswith("postgres-"))
    out = {"bench": per["bench"]}
    if len(per) > 1:
        out["postgres"] = round(server, 3)
    return out


def linear_fit(x: list[float], y: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of y over x."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    var = sum((a - mx) ** 2 for a in x)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / var if var else 0.0
    return slope, my - slope * mx


def rank(values: list[int], p: float) -> float:
    """The p-th percentile (nearest rank) of plain numbers."""
    return pct([v / 1000 for v in values], p)


async def timed(
    run: Callable[[Any], Awaitable[Any]], items: list[Any], warmup: int, store: MemoryStore
) -> tuple[list[float], dict[str, float]]:
    """Run ``warmup`` items untimed, then time the rest one at a time (seconds) with CPU."""
    for item in items[:warmup]:
        await run(item)
    meter = cpu_meter_for(await server_backends(store))  # as many as the warm-up opened
    meter.start()
    samples = []
    for item in items[warmup:]:
        started = time.perf_counter()
        await run(item)
        samples.append(time.perf_counter() - started)
    return samples, cpu_per_op(meter, len(samples))


async def server_backends(store: MemoryStore) -> list[int]:
    """The PostgreSQL server processes of the store's pool (none for SQLite)."""
    if store.backend != "postgresql":
        return []
    rows = await store._rows(  # type: ignore[attr-defined]
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend'",
        (),
    )
    return [int(pid) for (pid,) in rows]


def baseline_call(store: MemoryStore) -> Callable[[Any], Awaitable[Any]]:
    """``SELECT 1`` through the store's executor thread (SQLite) or its pool (PostgreSQL)."""
    if store.backend == "sqlite":

        async def sqlite_round_trip(_: Any) -> Any:
            return await store._run(  # type: ignore[attr-defined]
                lambda db: db.execute("SELECT 1").fetchone()
            )

        return sqlite_round_trip

    async def postgres_round_trip(_: Any) -> Any:
        return await store._rows("SELECT 1", ())  # type: ignore[attr-defined]

    return postgres_round_trip


async def count_matches(store: MemoryStore, terms: list[str]) -> int:
    """How many chunks a full-text expression matches (each one is scored when ranked)."""
    if store.backend == "sqlite":
        expression = fts5_query(terms)

        def count(db: sqlite3.Connection) -> int:
            sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
            return int(db.execute(sql, (expression,)).fetchone()[0])

        return await store._run(count) if expression else 0  # type: ignore[attr-defined]
    expression = tsquery(terms)
    rows = await store._rows(  # type: ignore[attr-defined]
        "SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('english', %s)", (expression,)
    )
    return int(rows[0][0]) if expression else 0


async def matches(store: MemoryStore, queries: list[str]) -> list[int]:
    """Per query: the chunks the search scores (those with any of its telling terms)."""
    counted = []
    for query in queries:
        terms = search_terms(query)
        revision = await store._knowledge_revision()  # type: ignore[attr-defined]
        terms = await store._telling(terms, revision)  # type: ignore[attr-defined]
        counted.append(await count_matches(store, terms))
    return counted


async def bench_backend(
    url: str, data: Customers, docs: list[DocumentIn], args: argparse.Namespace
) -> dict[str, Any]:
    """Populate one fresh store, ingest the knowledge base, and measure."""
    rng = Writer(args.seed + 1)
    store = open_store(url)
    out: dict[str, Any] = {}
    try:
        await store.migrate()
        started = time.perf_counter()
        if store.backend == "sqlite":
            await asyncio.to_thread(load_sqlite, Path(url.removeprefix("sqlite:///")), data)
        else:
            await asyncio.to_thread(load_postgres, url, data)
        out["populate_s"] = round(time.perf_counter() - started, 2)
        print(f"  customers written in {out['populate_s']:.1f} s; ingesting …", flush=True)

        backends = await server_backends(store)
        meter = cpu_meter_for(backends)
        meter.start()
        per_document: list[float] = []
        chunks = 0
        started = time.perf_counter()
        for doc in docs:
            began = time.perf_counter()
            chunks += (await store.ingest(doc)).chunks
            per_document.append(time.perf_counter() - began)
        elapsed = time.perf_counter() - started
        out["ingest"] = {
            "documents": len(docs),
            "chunks": chunks,
            "seconds": round(elapsed, 3),
            "chunks_per_s": round(chunks / elapsed, 1),
            "per_document": summary(per_document),
            "cpu_ms_per_chunk": cpu_per_op(meter, chunks),
        }
        print(f"  ingested {chunks} chunks in {elapsed:.2f} s", flush=True)
        if store.backend == "postgresql":
            await asyncio.to_thread(postgres_maintenance, url)

        n, warm = args.queries, args.warmup
        people = [rng.choice(data.numbers) for _ in range(n + warm)]
        messages = [rng.message() for _ in range(n + warm)]
        questions = [rng.question() for _ in range(n + warm)]
        contexts: list[int] = []
        spans: dict[str, list[float]] = {"profile_read": [], "knowledge_search": [], "rest": []}
        current: dict[str, tuple[float, float]] = {}

        def clocked(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
            async def run(*args: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await call(*args)
                finally:
                    current[name] = (started, time.perf_counter())

            return run

        async def recall(item: tuple[str, str]) -> None:
            current.clear()
            started = time.perf_counter()
            result = await store.recall(RecallQuery(customer=item[0], query=item[1]))
            contexts.append(len(format_context(result)))
            total = time.perf_counter() - started
            for name in ("profile_read", "knowledge_search"):
                begun, ended = current.get(name, (0.0, 0.0))
                spans[name].append(ended - begun)
            # The two may run at once: the rest is what lies outside the span they cover.
            covered = max(e for _, e in current.values()) - min(b for b, _ in current.values())
            spans["rest"].append(total - covered)

        async def search(query: str) -> None:
            await store.search_knowledge(query, 3)

        baseline, cpu_baseline = await timed(baseline_call(store), [None] * (n + warm), warm,
                                             store)  # fmt: skip
        searches, cpu_search = await timed(search, questions, warm, store)
        # Recall's parts, timed inside each recall (the instance attributes shadow the methods).
        store._profile_parts = clocked("profile_read", store._profile_parts)  # type: ignore[attr-defined]
        store.search_knowledge = clocked("knowledge_search", store.search_knowledge)  # type: ignore[method-assign]
        recalls, cpu_recall = await timed(recall, list(zip(people, messages, strict=True)), warm,
                                          store)  # fmt: skip
        out.update(
            baseline=summary(baseline),
            recall=summary(recalls),
            recall_parts={name: summary(values[warm:]) for name, values in spans.items()},
            search=summary(searches),
            cpu_ms_per_op={"baseline": cpu_baseline, "recall": cpu_recall, "search": cpu_search},
            context_chars_p50=rank(contexts[warm:], 50),
        )
        # What a search costs per matching chunk: every match is scored before the top few.
        counted = await matches(store, questions[warm:])
        slope, intercept = linear_fit([float(c) for c in counted], searches)
        out["fts_matches_per_question"] = {
            "chunks": chunks,
            "p50": rank(counted, 50),
            "p95": rank(counted, 95),
            "max": max(counted),
            "search_ms_per_1000_matches": round(slope * 1e6, 3),
            "search_ms_at_zero_matches": round(intercept * 1e3, 3),
        }
    finally:
        await store.close()
    return out


# --- backends -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=10_000, help="customers (10000)")
    parser.add_argument("--observations-per-profile", type=int, default=10, help="(10)")
    parser.add_argument(
        "--lines-per-conversation", type=int, default=8, help="lines of each past conversation (8)"
    )
    parser.add_argument("--chunks", type=int, default=5_000, help="knowledge chunks (5000)")
    parser.add_argument("--documents", type=int, default=100, help="knowledge documents (100)")
    parser.add_argument("--queries", type=int, default=2_000, help="timed requests per metric")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per metric")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(DATABASES)
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    return args


def commit() -> str:
    """The checked-out commit (``+`` when the working tree has changes)."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return run.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="switchboard-bench-memory-"))
    writer = Writer(args.seed)
    started = time.perf_counter()
    data = customers(writer, args.profiles, args.observations_per_profile,
                     args.lines_per_conversation)  # fmt: skip
    docs = knowledge_base(writer, args.documents, args.chunks)
    # The generated rows are millions of objects a worker would not hold: keep the garbage
    # collector's full passes over them out of the measured latencies.
    gc.collect()
    gc.freeze()
    print(f"data: {len(data.profiles)} profiles, {len(data.observations)} observations, "
          f"{len(data.conversations)} conversations ({len(data.lines)} lines), "
          f"{len(docs)} documents ({sum(len(d.content) for d in docs) / 1e6:.1f} MB) "
          f"generated in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    results: dict[str, Any] = {
        "config": vars(args),
        "cpus": os.cpu_count(),
        "commit": commit(),
        "load_average_at_start": os.getloadavg(),
        "targets": TARGETS,
        "data": {
            "profiles": len(data.profiles),
            "identifiers": len(data.identifiers),
            "traits": len(data.traits),
            "observations": len(data.observations),
            "conversations": len(data.conversations),
            "transcript_lines": len(data.lines),
            "documents": len(docs),
        },
        "backends": {},
    }
    for backend in args.backends:
        print(f"{backend}:", flush=True)
        try:
            with DATABASES[backend](work) as url:
                results["backends"][backend] = asyncio.run(bench_backend(url, data, docs, args))
        except Exception as exc:
            if len(args.backends) == 1:
                raise
            print(f"  {backend} failed: {exc!r}", flush=True)
            results["backends"][backend] = {"error": repr(exc)}
    report(results)
    save_results("memory", results, work)


# --- the report -----------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def report(results: dict[str, Any]) -> None:
    runs = {name: r for name, r in results["backends"].items() if "error" not in r}
    names = list(runs)
    d = results["data"]
    print(f"\n{d['profiles']} profiles, {d['observations']} observations, {d['conversations']} "
          f"conversations ({d['transcript_lines']} lines), {d['documents']} documents; "
          f"{results['config']['queries']} timed requests per metric, one at a time")  # fmt: skip
    rows = [
        ("baseline: SELECT 1 round trip", "baseline", ""),
        ("recall + format_context", "recall", f"p95 ≤ {TARGETS['recall_p95_ms']:g} ms"),
        ("  in recall: profile read", "profile_read", ""),
        ("  in recall: knowledge search", "knowledge_search", ""),
        ("  in recall: the rest (Python)", "rest", ""),
        ("knowledge search (3 hits)", "search", f"p95 ≤ {TARGETS['search_p95_ms']:g} ms"),
    ]
    head = f"{'':32}"
    sub = f"{'metric (ms)':32}"
    for name in names:
        head += f"   {name:─^38}"
        sub += f"   {'p50':>7} {'p95':>7} {'p99':>7} {'×base':>7} {'':>7}"
    print(head + "   target")
    print(sub.rstrip())
    for label, key, target in rows:
        line = f"{label:32}"
        for name in names:
            run = runs[name]
            s = run[key] if key in run else run["recall_parts"][key]
            base = run["baseline"]["p50"]
            mark = ""
            if key == "recall":
                mark = _mark(s["p95"] <= TARGETS["recall_p95_ms"])
            elif key == "search":
                mark = _mark(s["p95"] <= TARGETS["search_p95_ms"])
            line += (f"   {s['p50']:>7.2f} {s['p95']:>7.2f} {s['p99']:>7.2f} "
                     f"{s['p50'] / base:>6.1f}× {mark:>7}")  # fmt: skip
        print((line + f"   {target}").rstrip())
    line = f"{'ingest (chunks/s, whole corpus)':32}"
    for name in names:
        rate = runs[name]["ingest"]["chunks_per_s"]
        mark = _mark(rate >= TARGETS["ingest_chunks_per_s"])
        line += f"   {rate:>15.0f} chunks/s {'':>6} {mark:>7}"
    print(line + f"   ≥ {TARGETS['ingest_chunks_per_s']:g} chunks/s")

    print()
    for label, show in DETAILS_SHOWN:
        print((f"{label:32}" + "".join(f"   {show(runs[name]):<38}" for name in names)).rstrip())


def _cpu(run: dict[str, Any], key: str) -> str:
    values = run["ingest"]["cpu_ms_per_chunk"] if key == "ingest" else run["cpu_ms_per_op"][key]
    return " + ".join(f"{v:.2f}" for v in values.values())


def _matches(run: dict[str, Any]) -> str:
    fts = run["fts_matches_per_question"]
    return f"p50 {fts['p50']:.0f}, p95 {fts['p95']:.0f} of {fts['chunks']}"


def _per_match(run: dict[str, Any]) -> str:
    return f"{run['fts_matches_per_question']['search_ms_per_1000_matches']:.2f}"


def _per_document(run: dict[str, Any]) -> str:
    per = run["ingest"]["per_document"]
    return f"p50 {per['p50']:.1f}, p95 {per['p95']:.1f}"


DETAILS_SHOWN: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("CPU ms, bench + server: baseline", lambda r: _cpu(r, "baseline")),
    ("  recall", lambda r: _cpu(r, "recall")),
    ("  knowledge search", lambda r: _cpu(r, "search")),
    ("  ingest, per chunk", lambda r: _cpu(r, "ingest")),
    ("chunks a search scores", _matches),
    ("search ms per 1000 scored", _per_match),
    ("ingest ms per document", _per_document),
    ("recall context, p50 chars", lambda r: f"{r['context_chars_p50']:.0f}"),
]

if __name__ == "__main__":
    main()
