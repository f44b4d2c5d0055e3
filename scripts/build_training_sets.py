"""Build the adapter training sets for the two sample domains.

Writes ``samples/training/support.jsonl`` and ``samples/training/policy.jsonl``, one example a line::

    {"question": "...", "answer": "...", "sources": ["file-name.md"], "domain": "support"}

How the data is made
--------------------
The adapters teach tone and answer format; the facts come from retrieval at serving time. So every
answer here rests on the sample corpus in ``samples/corpus/<domain>/`` and nothing else:

* The corpus is read and parsed: numbered steps and the LED table from the help pages, clause ids and
  texts (``G1.3 ...``) and the retention periods from the policies.
* Hand-written intent tables below pair one answer with several phrasings of the question (first
  person, imperative, short, long). Answers either quote parsed corpus text (clauses, steps, LED
  rows) or are short hand-written restatements of it. Two small template families (LED colours,
  retention periods) multiply parsed rows by question templates.
* About 10% of each set are plausible questions the corpus does not answer; their answer is the
  domain's fixed refusal and they have no ``sources``.
* Intents that paraphrase a question of ``samples/questions.jsonl`` were left out on purpose, and a
  lexical check rejects any training question equal to a question of the eval set ``samples/eval.jsonl``
  (which includes those), or with a word-set Jaccard
  similarity of 0.6 or more, once lowercased and stripped of punctuation.

Answer formats (``[n]`` cites ``sources[n-1]``):

* support: one lead sentence with a citation, a blank line, then 1-6 numbered steps, each line
  ending with its citation. At most 90 words.
* policy: ``Verdict: ...`` line, one line of cited reason, ``Clauses: ...`` line. At most 60 words.

Checks before anything is written: answer format, citation numbers, sources that exist, every
source cited, every number and menu path (``A > B``) in an answer present in a cited document,
every listed clause present in a cited document, no duplicate questions, no eval leakage, sizes and
refusal share. The output is deterministic (fixed shuffle seed).

Usage: ``python scripts/build_training_sets.py`` (Python 3.11, standard library only).
"""

from __future__ import annotations

import html
import json
import random
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "samples" / "corpus"
EVAL_QUESTIONS = REPO / "samples" / "eval.jsonl"
OUT_DIR = REPO / "samples" / "training"

DOMAINS = ("support", "policy")
SUPPORT_REFUSAL = "The help pages don't cover this.\n\n1. Contact Brightwave support with your unit's serial number."
POLICY_REFUSAL = "Verdict: Not covered.\nThe policies provided do not address this.\nClauses: none"
REFUSALS = {"support": SUPPORT_REFUSAL, "policy": POLICY_REFUSAL}
MAX_WORDS = {"support": 90, "policy": 60}
MIN_EXAMPLES = 220
REFUSAL_SHARE = (0.08, 0.12)
JACCARD_LIMIT = 0.6
SEED = 20260401

Example = dict[str, object]


# --------------------------------------------------------------------------- corpus


def plain_text(path: Path) -> str:
    """The document as plain text: HTML headings become ``## ...``, ordered lists ``1. ...``, markup goes."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        raw = re.sub(r"<(head|nav|header|footer)\b.*?</\1>", "", raw, flags=re.S)
        raw = re.sub(r"<h[1-6][^>]*>(.*?)</h[1-6]>", r"\n## \1\n", raw, flags=re.S)

        def number_items(match: re.Match[str]) -> str:
            items = re.findall(r"<li[^>]*>(.*?)</li>", match.group(1), flags=re.S)
            return "\n" + "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1)) + "\n"

        raw = re.sub(r"<ol[^>]*>(.*?)</ol>", number_items, raw, flags=re.S)
        raw = re.sub(r"</(p|tr)>", "\n", raw)
        raw = re.sub(r"</t[dh]>", " | ", raw)
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    raw = raw.replace("*", "").replace("`", "")
    return "\n".join(line.strip() for line in raw.splitlines())


@dataclass(frozen=True)
class Corpus:
    domain: str
    texts: dict[str, str]  # file name -> plain text

    @classmethod
    def load(cls, domain: str) -> Corpus:
        files = sorted(p for p in (CORPUS / domain).iterdir() if p.is_file())
        return cls(domain, {p.name: plain_text(p) for p in files})

    def steps(self, source: str, heading: str) -> list[str]:
        """The numbered steps that follow ``heading`` (a ``##`` heading or a line of its own)."""
        lines = self.texts[source].splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip("# ").strip() == heading)
        steps: list[str] = []
        for line in lines[start + 1 :]:
            match = re.match(r"^\d+\. (.+)$", line)
            if match:
                steps.append(match.group(1).strip())
            elif steps or line:
                break
        if not steps:
            raise SystemExit(f"no numbered steps under {heading!r} in {source}")
        return steps

    def clauses(self) -> dict[str, tuple[str, str]]:
        """Clause id -> (file name, clause text), e.g. ``"G1.3" -> ("gifts-and-hospitality.md", "Cash, ...")``."""
        found: dict[str, tuple[str, str]] = {}
        for source, text in self.texts.items():
            for match in re.finditer(r"^([A-Z]\d+\.\d+) (.+)$", text, flags=re.M):
                found[match.group(1)] = (source, match.group(2).strip())
        return found

    def led_rows(self) -> list[tuple[str, str, str]]:
        """(LED, meaning, what to do) rows of the LED table."""
        raw = (CORPUS / self.domain / "led-status.html").read_text(encoding="utf-8")
        rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", raw)
        return [(html.unescape(a), html.unescape(b), html.unescape(c)) for a, b, c in rows]


def cited(steps: Iterable[str], n: int = 1) -> list[str]:
    """Steps quoted from the corpus, each ending with the citation ``[n]``."""
    return [f"{step.rstrip('.')} [{n}]" for step in steps]


# --------------------------------------------------------------------------- support


@dataclass(frozen=True)
class SupportIntent:
    sources: tuple[str, ...]
    lead: str
    steps: tuple[str, ...]
    questions: tuple[str, ...]

    def answer(self) -> str:
        numbered = "\n".join(f"{i}. {step}" for i, step in enumerate(self.steps, start=1))
        return f"{self.lead}\n\n{numbered}"


def support(sources: str | tuple[str, ...], lead: str, steps: Sequence[str], questions: Sequence[str]) -> SupportIntent:
    as_tuple = (sources,) if isinstance(sources, str) else sources
    return SupportIntent(as_tuple, lead, tuple(steps), tuple(questions))


GS, FR, FW, GN = "getting-started.md", "factory-reset.md", "firmware-update.html", "guest-network.md"
LED, PC, PF, SW = "led-status.html", "parental-controls.md", "port-forwarding.txt", "slow-wifi.md"

# The table's own wording, turned into a clause; a changed table fails loudly instead of drifting.
LED_MEANING = {
    "Ready to be set up": "the unit is ready to be set up",
    "Working normally": "the unit is working normally",
    "Satellite waiting to pair": "a satellite is waiting to pair",
    "Weak link to the main node": "the satellite has a weak link to the main node",
    "Factory reset in progress": "a factory reset is in progress",
    "No internet connection": "the unit has no internet connection",
    "Hardware fault or overheating": "a hardware fault or overheating",
}
LED_ACTION = {"Nothing.": "No action is needed."}
LED_LEFT_OUT = {"Blinking purple"}  # asked verbatim by samples/questions.jsonl
LED_TEMPLATES = (
    "My N300's status light is {c}. What does that mean?",
    "What is a {c} LED on the Nimbus telling me?",
    "The light on top of my router is {c}, what should I do?",
    "Why is the LED on my unit {c}?",
)


def led_intents(corpus: Corpus) -> list[SupportIntent]:
    intents = []
    for colour, meaning, action in corpus.led_rows():
        if colour in LED_LEFT_OUT:
            continue
        lead = f"{colour} on the status LED means {LED_MEANING[meaning]} [1]."
        steps = LED_ACTION.get(action, action).split("; ")
        steps = [s[0].upper() + s[1:] for s in steps]
        questions = [t.format(c=colour.lower()) for t in LED_TEMPLATES]
        intents.append(support(LED, lead, cited(steps), questions))
    return intents


def support_intents(corpus: Corpus) -> list[SupportIntent]:
    return [
        *led_intents(corpus),
        # getting-started.md
        support(
            GS,
            "You set up the main node with the Brightwave Home app [1].",
            [
                "Connect its yellow WAN port to your modem with the Ethernet cable [1]",
                "Plug in the power and wait about 90 seconds for the LED to pulse white [1]",
                "In the app, sign in, tap Add device and scan the QR code on the bottom of the unit [1]",
                "Choose a network name and a password of at least 10 characters [1]",
                "Setup is complete when the LED turns solid white [1]",
            ],
            [
                "How do I set up my new Nimbus N300?",
                "I just unboxed the N300. What are the setup steps?",
                "Walk me through the first setup of the main node.",
                "What's the process for installing the router for the first time?",
                "Steps to get a brand-new N300 online?",
            ],
        ),
        support(
            GS,
            "Each box holds one N300 unit, a 12 V / 2 A power adapter, a 1.5 m Cat 6 Ethernet cable and a "
            "quick-start card [1].",
            [
                "Use the Ethernet cable to connect the main node's yellow WAN port to your modem [1]",
                "If you bought a three-pack, expect one quick-start card shared by all units [1]",
            ],
            [
                "What comes in the N300 box?",
                "Is an Ethernet cable included with the router?",
                "What accessories ship with each unit?",
                "Does the Nimbus come with its own power adapter?",
            ],
        ),
        support(
            GS,
            "The app finds a unit that is not yet configured over Bluetooth Low Energy, so it has to be close [1].",
            [
                "Move your phone within 3 metres of the unit [1]",
                "Turn Bluetooth on [1]",
                "Check that the LED pulses white, which means the unit is ready for setup [1]",
            ],
            [
                "The Brightwave Home app can't find my new unit.",
                "Why doesn't the app detect the router during setup?",
                "Add device finds nothing. How do I make the app see the N300?",
                "App is stuck searching for the router, what should I try?",
            ],
        ),
        support(
            GS,
            "You add a satellite from the Brightwave Home app [1].",
            cited(corpus.steps(GS, "Adding a satellite")),
            [
                "How do I add another unit to my mesh?",
                "I bought an extra N300. How do I pair it as a satellite?",
                "Steps to extend my mesh with a satellite node?",
                "What's the way to join a second N300 to the network?",
                "Add a satellite to my existing N300 network, please explain how.",
            ],
        ),
        support(
            GS,
            "One N300 is the main node, and up to six more units can join as satellites [1].",
            [
                "Place each satellite no more than two rooms away from the main node [1]",
                "Add it in the app under Network > Add satellite [1]",
            ],
            [
                "How many satellites can one N300 mesh have?",
                "What's the max number of units in a Nimbus mesh?",
                "Can I add eight units to one network?",
                "Is there a limit on how many nodes I can add?",
            ],
        ),
        support(
            GS,
            "The router's web interface is at http://192.168.50.1 [1].",
            [
                "Open http://192.168.50.1 in a browser [1]",
                "Sign in with the admin password you chose in the app; there is no separate default password [1]",
            ],
            [
                "What's the IP address of the router's admin page?",
                "How do I reach the web interface?",
                "Which address do I type in the browser to open the router settings?",
                "Where is the N300's web UI?",
            ],
        ),
        support(
            (GS, FR),
            "There is no separate default password: the admin password is the one you chose in the app [1].",
            [
                "Sign in at http://192.168.50.1 with that password [1]",
                "If you forgot it, a factory reset gets you back in, but it erases all settings [2]",
            ],
            [
                "What is the default admin password?",
                "Is there a factory-default login for the web interface?",
                "Which password do I use to sign in at 192.168.50.1?",
                "I can't find an admin password on the label. What is it?",
            ],
        ),
        support(
            (GS, PF),
            "The default LAN range is 192.168.50.0/24, and the router itself is at 192.168.50.1 [1].",
            [
                "To keep a device on one address, open Devices in the app, tap the device and tap "
                "Reserve IP address [2]",
            ],
            [
                "Which subnet does the N300 use by default?",
                "What IP range do devices get on my home network?",
                "What is the default LAN range?",
                "Which addresses does the router give my devices?",
            ],
        ),
        support(
            GS,
            "The WAN port is the yellow port on the main node [1].",
            [
                "Connect it to your modem with the Ethernet cable from the box [1]",
                "Plug in the power adapter and wait about 90 seconds for the LED to pulse white [1]",
            ],
            [
                "Which port do I plug the modem into?",
                "Where does the modem cable go?",
                "What colour is the WAN port?",
                "Which socket on the main node is for the internet connection?",
            ],
        ),
        support(
            GS,
            "Your Wi-Fi password needs at least 10 characters [1].",
            [
                "Choose the network name (SSID) and the password in the app during setup [1]",
                "Wait for the LED to turn solid white to finish setup [1]",
            ],
            [
                "How long must the Wi-Fi password be?",
                "Minimum password length for my network?",
                "The app rejects my 8-character Wi-Fi password. Why?",
                "What are the rules for the network password?",
            ],
        ),
        support(
            (SW, LED),
            "Keep each satellite no more than two rooms from the main node or from another satellite [1].",
            [
                "Open Network > Mesh health in the app; it rates each backhaul link Good, Fair or Weak [1]",
                "Move any unit rated Weak closer [1]",
                "A satellite whose LED is solid yellow has a weak link: move it closer to the main node [2]",
            ],
            [
                "How far apart should I put the mesh units?",
                "Where's the best spot for a satellite?",
                "How do I know if my satellite is placed well?",
                "What's the recommended distance between nodes?",
                "Is my satellite too far from the main unit?",
            ],
        ),
        # factory-reset.md
        support(
            FR,
            "A factory reset erases all settings of the unit and returns it to its factory state [1].",
            [
                "Expect to lose the network name (SSID) and the Wi-Fi password [1]",
                "Port forwarding rules, DHCP reservations and parental-control profiles are erased too [1]",
                "The unit is unlinked from your Brightwave account, so set it up again in the app [1]",
            ],
            [
                "What gets deleted when I factory reset?",
                "Will a reset wipe my port forwarding rules?",
                "Does resetting remove my parental controls profiles?",
                "What do I lose if I reset the N300 to factory settings?",
                "Does a factory reset unlink the router from my account?",
            ],
        ),
        support(
            (FR, FW),
            "No, a reset keeps the firmware version the unit already had [1].",
            [
                "Expect the unit to run the same firmware after the reset [1]",
                "Check the installed version under Administration > About [2]",
            ],
            [
                "Will a factory reset downgrade the firmware?",
                "Does resetting the unit put the original firmware back?",
                "After a reset, am I on the old firmware again?",
                "Does a reset undo a firmware update?",
            ],
        ),
        support(
            FR,
            "Holding the reset button for less than 10 seconds only restarts the unit and keeps all settings [1].",
            [
                "For a full reset, hold it for 10 seconds until the status LED blinks amber [1]",
            ],
            [
                "What happens if I press the reset button briefly?",
                "I held the pinhole for 3 seconds and it just rebooted. Why?",
                "Does a quick press of reset erase anything?",
                "Can I restart the router with the reset button without losing settings?",
            ],
        ),
        support(
            FR,
            "Reset the main node first, then each satellite [1].",
            [
                "Reset the main node [1]",
                "Then reset each satellite in turn [1]",
                "A satellite reset before the main node keeps trying to rejoin the old network and may need a "
                "second reset [1]",
            ],
            [
                "In which order do I reset the whole mesh?",
                "I want to wipe all my N300 units. Where do I start?",
                "Should satellites be reset before the main node?",
                "My satellite keeps trying to join the old network after a reset.",
                "How do I reset every node in the system?",
            ],
        ),
        support(
            FR,
            "If the LED stays off or red after a 10-second hold, cut the power and try again [1].",
            [
                "Disconnect power for 30 seconds [1]",
                "Hold the reset button for 10 seconds again [1]",
                "If it still doesn't blink amber, contact Brightwave support with the serial number from the "
                "bottom label [1]",
            ],
            [
                "I held reset for 10 seconds but the light never turned amber.",
                "Reset isn't working, the LED just stays red.",
                "The status light stays off when I try to reset. What now?",
                "What if the amber blinking never starts?",
            ],
        ),
        support(
            (FR, SW),
            "Reset only when a unit no longer responds, when you forgot the admin password, or before you give "
            "it away [1].",
            [
                "Remember that a reset erases all settings and unlinks the unit from your Brightwave account [1]",
                "If the router has run for more than 60 days, try Settings > Restart mesh first; it keeps your "
                "settings [2]",
            ],
            [
                "When should I factory reset the N300?",
                "Should I reset the router before selling it?",
                "Is it a good idea to wipe the unit before giving it to a friend?",
                "When is a factory reset the right move?",
            ],
        ),
        support(
            (FR, GS),
            "After a reset the unit restarts in about 2 minutes and then pulses white, ready for setup [1].",
            [
                "Wait for the LED to pulse white [1]",
                "Open the Brightwave Home app and tap Add device [2]",
                "Scan the QR code on the bottom of the unit [2]",
                "Choose a network name and a password of at least 10 characters [2]",
            ],
            [
                "I reset the router. How do I set it up again?",
                "What do I do after the factory reset finishes?",
                "Reset done and the LED is pulsing white. Next steps?",
                "How do I get my network back after wiping the unit?",
            ],
        ),
        # firmware-update.html
        support(
            FW,
            "Automatic updates are on by default and install between 03:00 and 05:00 local time [1].",
            [
                "Expect all units to restart once, with the network down for about 4 minutes [1]",
                "To pick another two-hour slot, go to Settings > Firmware > Update window in the app [1]",
            ],
            [
                "When does the router install updates?",
                "Does the N300 update itself automatically?",
                "At what time do firmware updates happen?",
                "Will automatic updates interrupt my internet?",
                "Are automatic updates enabled out of the box?",
            ],
        ),
        support(
            FW,
            "You can move automatic updates to another two-hour slot in the app [1].",
            [
                "Open the Brightwave Home app [1]",
                "Go to Settings > Firmware > Update window [1]",
                "Choose another two-hour slot [1]",
            ],
            [
                "How do I change when updates install?",
                "I work night shifts. Can updates happen at another time?",
                "Move the firmware update window to the afternoon.",
                "Can I pick a different time for automatic firmware updates?",
                "Where do I set the update schedule?",
            ],
        ),
        support(
            FW,
            "You can install a firmware file by hand from the web interface [1].",
            [
                "Download the N300 firmware file, ending in .bwf, from the Brightwave support site [1]",
                "Sign in at http://192.168.50.1 and go to Administration > Firmware upgrade [1]",
                "Click Choose file, select the .bwf file and click Upload [1]",
                "Keep the router on while the LED blinks purple; this takes up to 6 minutes [1]",
                "When the LED is solid white, check the version under Administration > About [1]",
            ],
            [
                "How do I update the firmware manually?",
                "Can I install a .bwf file myself?",
                "Steps to upload new firmware through the web interface?",
                "I don't want to wait for the nightly update. How do I update now?",
                "How to flash a firmware file onto the N300?",
            ],
        ),
        support(
            FW,
            "Brightwave releases firmware for the N300 about once a month [1].",
            [
                "Keep automatic updates on, since new firmware fixes security problems and improves mesh stability [1]",
            ],
            [
                "How often is new firmware released?",
                "How frequently does Brightwave ship updates?",
                "Why should I keep automatic updates on?",
                "Is the N300 still getting updates regularly?",
            ],
        ),
        support(
            (FW, LED),
            "No, don't switch the router off while the LED blinks purple: a firmware upgrade is in progress [1].",
            [
                "Wait; the upgrade takes up to 6 minutes [1]",
                "When the LED is solid white again, the unit is working normally [2]",
            ],
            [
                "Can I unplug the router in the middle of an update?",
                "Is it safe to power off while the firmware is installing?",
                "Should I switch the router off while it's updating?",
                "The update seems slow. Should I pull the power?",
            ],
        ),
        support(
            FW,
            "The installed firmware version is shown in the web interface [1].",
            [
                "Sign in at http://192.168.50.1 with the admin password [1]",
                "Go to Administration > About [1]",
            ],
            [
                "Where can I see which firmware version I have?",
                "How do I check the current firmware?",
                "Which firmware is my router running?",
                "Find the firmware version number on the N300.",
            ],
        ),
        # guest-network.md
        support(
            GN,
            "You switch on guest Wi-Fi in the Brightwave Home app [1].",
            cited(corpus.steps(GN, "Turning on the guest network")),
            [
                "How do I set up a guest network?",
                "I have visitors this weekend, how do I give them Wi-Fi?",
                "Create guest Wi-Fi on the N300.",
                "Where do I enable guest access?",
                "Can I make an open guest network without a password?",
            ],
        ),
        support(
            GN,
            "Guest devices are isolated: they can't see devices on your main network or each other [1].",
            [
                "Turn on guest Wi-Fi under Network > Guest Wi-Fi in the app [1]",
                "Give visitors the guest network, which keeps them away from your devices, printers and shared "
                "folders [1]",
            ],
            [
                "Can guests see my printer?",
                "Will visitors on guest Wi-Fi get into my shared folders?",
                "Is the guest network separated from my own devices?",
                "Can two guest devices talk to each other?",
                "Is guest Wi-Fi safe for my NAS?",
            ],
        ),
        support(
            (GN, GS),
            "Guest devices get addresses in the 192.168.60.0/24 range [1].",
            [
                "Your own devices stay on the main range, 192.168.50.0/24 [2]",
            ],
            [
                "What IP addresses do guests get?",
                "Which subnet is used for the guest network?",
                "Why does my visitor's phone have a 192.168.60 address?",
                "What's the guest Wi-Fi address range?",
            ],
        ),
        support(
            GN,
            "The guest network can switch itself off on a schedule [1].",
            [
                "Open Guest Wi-Fi > Schedule in the app [1]",
                "Choose 1 hour, 4 hours, 24 hours or a fixed time every day [1]",
                "Leave it on Always on, the default, if you want no limit [1]",
            ],
            [
                "Can the guest network turn off automatically?",
                "How do I give visitors Wi-Fi for only a few hours?",
                "Set guest Wi-Fi to shut off every night.",
                "Is there a timer for the guest network?",
                "What is the default guest network schedule?",
            ],
        ),
        support(
            GN,
            "Tap Share to show a QR code that visitors scan to join without typing the password [1].",
            [
                "In the app, open Network > Guest Wi-Fi and tap Share [1]",
                "Let visitors scan the QR code with their phone camera [1]",
            ],
            [
                "How can guests join without typing the password?",
                "Is there a QR code for the guest Wi-Fi?",
                "Easiest way to share the guest Wi-Fi password?",
                "What's the quickest way to get a visitor's phone online?",
            ],
        ),
        support(
            GN,
            "You can cap guest bandwidth anywhere from 5 to 500 Mbit/s [1].",
            [
                "Open Guest Wi-Fi > Speed limit in the app [1]",
                "Pick a cap between 5 and 500 Mbit/s [1]",
            ],
            [
                "Can I limit how much bandwidth guests use?",
                "My guests are streaming and slowing everything down.",
                "How do I throttle the guest network?",
                "What's the lowest speed cap for guest Wi-Fi?",
            ],
        ),
        # led-status.html
        support(
            LED,
            "You can dim or turn off the status LED in the app, and errors still light it [1].",
            [
                "Open Settings > LED brightness in the Brightwave Home app [1]",
                "Lower the brightness or turn the LED off [1]",
            ],
            [
                "The light on the router is too bright in my bedroom.",
                "How do I turn off the status LED?",
                "Can I dim the LED at night?",
                "Will errors still show if the LED is switched off?",
            ],
        ),
        support(
            (LED, SW),
            "A solid yellow LED on a satellite means a weak link to the main node [1].",
            [
                "Move the satellite closer to the main node [1]",
                "Keep it no more than two rooms from the main node or another satellite [2]",
                "Check Network > Mesh health and move any unit still rated Weak closer [2]",
            ],
            [
                "My satellite is stuck on yellow. How do I fix its backhaul?",
                "The extender unit glows yellow all the time, what can I do?",
                "How do I get a satellite off solid yellow?",
            ],
        ),
        # parental-controls.md
        support(
            PC,
            "Parental controls work per person, through profiles in the app [1].",
            cited(corpus.steps(PC, "Creating a profile")),
            [
                "How do I set up parental controls?",
                "Create a profile for my daughter's devices.",
                "Where do I add a family member profile?",
                "How can I filter content on my son's tablet?",
                "Steps to turn on content filtering for a child?",
            ],
        ),
        support(
            PC,
            "There are four filter levels: Child (under 9), Pre-teen (9 to 12), Teen (13 to 17) and Adult (no "
            "filtering) [1].",
            [
                "Choose the level when you create a profile under Family > Profiles [1]",
            ],
            [
                "What filter levels are available?",
                "What age groups do the content filters cover?",
                "What does the Teen filter level mean?",
                "Is there a no-filtering option for adults?",
            ],
        ),
        support(
            PC,
            "Pre-teen is the filter level meant for ages 9 to 12 [1].",
            [
                "Open Family > Profiles and tap New profile [1]",
                "Assign your child's devices and choose Pre-teen [1]",
                "Tap Save [1]",
            ],
            [
                "Which filter level fits a 10-year-old?",
                "My son is 11, what content filter should I pick?",
                "Best filter setting for a twelve year old?",
            ],
        ),
        support(
            PC,
            "Each profile can have a bedtime and a daily time limit between 30 minutes and 8 hours [1].",
            [
                "Set a bedtime, during which the profile's devices have no internet access [1]",
                "Set a daily limit between 30 minutes and 8 hours [1]",
                "Expect the limits to reset at midnight [1]",
            ],
            [
                "Can I limit my kids' screen time?",
                "How do I set a bedtime for my children's devices?",
                "What's the maximum daily time limit?",
                "When do daily internet limits reset?",
                "Can I cut off internet at night for one person?",
            ],
        ),
        support(
            PC,
            "Tap Pause on a profile to cut its devices off the internet at once [1].",
            [
                "Open the profile and tap Pause [1]",
                "Its devices stay connected to the Wi-Fi but can't reach the internet [1]",
                "Tap Resume to give them internet access again [1]",
            ],
            [
                "How do I pause the internet for my kids?",
                "Dinner time! Can I cut off my son's devices right now?",
                "Do paused devices get disconnected from Wi-Fi?",
                "How do I turn the internet back on after pausing?",
            ],
        ),
        # port-forwarding.txt
        support(
            PF,
            "Give the device a fixed address first, then add the rule in the web interface [1].",
            [
                "In the app, open Devices, tap the device and tap Reserve IP address [1]",
                *cited(corpus.steps(PF, "To add a rule:")),
            ],
            [
                "How do I forward a port to my game console?",
                "Open a port for my home server.",
                "Set up port forwarding on the N300.",
                "Where do I add a port forwarding rule?",
                "I need to forward TCP 25565 for a Minecraft server.",
            ],
        ),
        support(
            PF,
            "Port forwarding rules point at an address, so reserve one for the device [1].",
            [
                "In the app, open Devices [1]",
                "Tap the device, then tap Reserve IP address [1]",
            ],
            [
                "How do I give a device a fixed IP?",
                "Can I reserve an IP address for my NAS?",
                "Set a static address for my printer.",
                "Why does port forwarding need a reserved address?",
            ],
        ),
        support(
            PF,
            "The N300 allows up to 32 port forwarding rules [1].",
            [
                "Add rules under Advanced > Port forwarding in the web interface [1]",
                "A new rule works as soon as you click Save; no restart is needed [1]",
            ],
            [
                "How many port forwarding rules can I create?",
                "Is there a limit on forwarding rules?",
                "What's the maximum number of port forwards?",
            ],
        ),
        support(
            PF,
            "Ports 8443 and 7547 are reserved for the router's own remote management and can't be forwarded [1].",
            [
                "Use a different external port for your device [1]",
            ],
            [
                "Why can't I forward port 8443?",
                "Which ports are off limits for forwarding?",
                "The router won't let me forward 7547.",
                "Are any ports reserved by the router itself?",
            ],
        ),
        support(
            PF,
            "If a game console reports a strict NAT type, turn on UPnP, which is off by default for security [1].",
            [
                "Sign in to the web interface at http://192.168.50.1 [1]",
                "Go to Advanced > UPnP and turn it on [1]",
                "Games and apps can then open ports by themselves [1]",
            ],
            [
                "My Xbox says NAT type strict.",
                "How do I enable UPnP?",
                "Is UPnP on by default?",
                "PlayStation shows strict NAT, how do I fix it?",
                "Why can't my console open ports by itself?",
            ],
        ),
        # slow-wifi.md
        support(
            SW,
            "First find out whether your internet line or the Wi-Fi is slow [1].",
            [
                "Connect a computer to a LAN port of the main node with a cable [1]",
                "Run a speed test [1]",
                "If the cable speed is slow too, contact your internet provider [1]",
                "If only Wi-Fi is slow, check placement and Network > Mesh health [1]",
            ],
            [
                "My internet is slow, where do I start?",
                "Wi-Fi feels sluggish everywhere in the house.",
                "How do I tell if it's my ISP or the router?",
                "Downloads are slow on all my devices. What should I check?",
                "Is slow Wi-Fi the router's fault or my internet line?",
            ],
        ),
        support(
            SW,
            "Put the main node at least 1 metre above the floor, away from metal cabinets, aquariums and "
            "microwaves [1].",
            [
                "Raise the main node to at least 1 metre above the floor [1]",
                "Move it away from metal cabinets, aquariums and microwaves [1]",
                "Keep satellites no more than two rooms from the main node or another satellite [1]",
            ],
            [
                "Where should I put the main router?",
                "Does it matter if the router sits on the floor?",
                "Can I keep the N300 next to my microwave?",
                "Best place for the main node?",
                "My router is behind the fish tank, is that a problem?",
            ],
        ),
        support(
            SW,
            "Network > Mesh health in the app rates each backhaul link as Good, Fair or Weak [1].",
            [
                "Open Network > Mesh health [1]",
                "Move any unit rated Weak closer [1]",
            ],
            [
                "How can I see how strong my mesh links are?",
                "Mesh health says Weak for one unit.",
                "Where do I check backhaul quality?",
                "What do the Good, Fair and Weak ratings mean?",
            ],
        ),
        support(
            SW,
            "The N300 picks Wi-Fi channels automatically every night at 04:00 [1].",
            [
                "To force a new choice now, open Settings > Wi-Fi > Optimise channels [1]",
                "Expect clients to disconnect for about 20 seconds [1]",
            ],
            [
                "How do I change the Wi-Fi channel?",
                "My neighbours' Wi-Fi interferes with mine.",
                "Can I force the router to pick a better channel?",
                "Does the N300 choose channels automatically?",
                "How do I reduce interference?",
            ],
        ),
        support(
            SW,
            "Band steering moves capable devices from the 2.4 GHz band to the faster 5 GHz bands [1].",
            [
                "Nothing to switch on: band steering is on by default [1]",
                "If devices are still slow, check Network > Mesh health in the app [1]",
            ],
            [
                "What is band steering?",
                "Is band steering on by default?",
                "Why did my laptop move to the 5 GHz band?",
                "What does band steering do on the N300?",
            ],
        ),
        support(
            SW,
            "Restart the mesh if the router has been running for more than 60 days; it clears fragmented memory "
            "tables [1].",
            [
                "Open Settings > Restart mesh in the app [1]",
                "Your settings are kept; restarting does not erase anything [1]",
            ],
            [
                "How do I restart all my units at once?",
                "Does restarting the mesh delete my settings?",
                "How often should I reboot the N300?",
                "The router has been on for months and feels slow. Should I reboot?",
                "Where's the restart option for the whole system?",
            ],
        ),
    ]


SUPPORT_UNANSWERED = (
    "Does the N300 support Thread or Matter?",
    "Can the N300 act as a Matter controller for my smart home?",
    "Is WPA3 supported?",
    "Which Wi-Fi security modes can I choose?",
    "Does the router support IPv6?",
    "How do I turn on IPv6 on my network?",
    "Can I run a VPN server on the N300?",
    "Does the router have a built-in WireGuard client?",
    "How do I set up dynamic DNS?",
    "Is there a DDNS option so I can reach my network by name?",
    "Can I connect satellites with an Ethernet cable instead of wirelessly?",
    "Does the mesh support wired backhaul?",
    "How long is the warranty on the N300?",
    "What does the Brightwave warranty cover?",
    "How much power does one unit use?",
    "How many square metres does a single N300 cover?",
    "What is the range of one unit?",
    "How do I change the DNS servers the router uses?",
    "How do I change the router's LAN IP address?",
    "Does it work with Alexa voice commands?",
    "Can I mount the unit on a wall?",
    "How do I set up PPPoE for my internet provider?",
    "Does the N300 have a USB port for a printer?",
    "Can I block a device by its MAC address?",
    "Can I give my gaming PC priority over other traffic?",
    "Does the N300 have a WPS button for pairing devices?",
)


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class PolicyIntent:
    sources: tuple[str, ...]
    verdict: str
    clauses: tuple[str, ...]
    questions: tuple[str, ...]
    reason: str = ""  # empty: the listed clauses' own text, each sentence cited

    def answer(self, clause_texts: dict[str, tuple[str, str]]) -> str:
        reason = self.reason
        if not reason:
            sentences = []
            for clause in self.clauses:
                source, text = clause_texts[clause]
                n = self.sources.index(source) + 1
                sentences += [f"{s.rstrip('.')} [{n}]." for s in re.split(r"(?<=\.)\s+", text)]
            reason = " ".join(sentences)
        return f"Verdict: {self.verdict}\n{reason}\nClauses: {', '.join(self.clauses)}"


def policy(
    sources: str | tuple[str, ...], verdict: str, clauses: str, questions: Sequence[str], reason: str = ""
) -> PolicyIntent:
    as_tuple = (sources,) if isinstance(sources, str) else sources
    return PolicyIntent(as_tuple, verdict, tuple(clauses.split(", ")), tuple(questions), reason)


AU, DR, GH = "acceptable-use.txt", "data-retention.html", "gifts-and-hospitality.md"
LV, RW, TE = "leave-policy.md", "remote-work.md", "travel-expenses.md"

# Retention clauses read "Record type: period." D2.3 is left out: samples/questions.jsonl asks it.
RETENTION = {
    # clause: (verb for the record type, verdict, two ways to name the records)
    "D2.1": ("are", "7 years after the shipment date.", ("customer shipping records", "shipping records")),
    "D2.2": ("are", "10 years after the financial year.", ("invoices", "accounting records")),
    "D2.4": ("are", "5 years after the employee leaves.", ("personnel files", "a former employee's personnel file")),
    "D2.5": ("is", "30 days.", ("warehouse CCTV footage", "camera recordings from the warehouses")),
    "D2.6": ("are", "3 years.", ("emails", "old emails")),
}
RETENTION_TEMPLATES = (
    "How long do we keep {r}?",
    "What's the retention period for {r}?",
    "How long should Orbital Freight hold on to {r}?",
    "Retention time for {r}?",
)


def retention_intents(clause_texts: dict[str, tuple[str, str]]) -> list[PolicyIntent]:
    intents = []
    for clause, (verb, verdict, names) in RETENTION.items():
        source, text = clause_texts[clause]
        record, period = text.rstrip(".").split(": ", 1)
        reason = f"{record} {verb} kept for {period} [1]."
        questions = [t.format(r=names[i % len(names)]) for i, t in enumerate(RETENTION_TEMPLATES)]
        intents.append(policy(source, verdict, clause, questions, reason))
    return intents


def policy_intents(corpus: Corpus) -> list[PolicyIntent]:
    clause_texts = corpus.clauses()
    return [
        *retention_intents(clause_texts),
        # acceptable-use.txt
        policy(
            AU,
            "No.",
            "U1.1",
            [
                "Can I give my password to a colleague while I'm on holiday?",
                "Is it okay to share one login with my team?",
                "My manager wants my account password to check my inbox. Can I give it to her?",
                "May two people use the same account?",
            ],
        ),
        policy(
            AU,
            "At least 14 characters.",
            "U1.2",
            [
                "What's the minimum password length?",
                "How long does my password have to be?",
                "How many characters must a password have?",
            ],
            "Passwords must have at least 14 characters [1].",
        ),
        policy(
            AU,
            "Yes.",
            "U1.2",
            [
                "Do I have to use MFA?",
                "Is two-factor authentication mandatory for my account?",
                "Does every account need multi-factor authentication?",
            ],
            "Multi-factor authentication is required for all accounts [1].",
        ),
        policy(
            AU,
            "Within 1 hour.",
            "U1.3",
            [
                "I left my work laptop on the train. How soon must I report it?",
                "What is the deadline for reporting a stolen phone?",
                "My company laptop was stolen from my home office. By when do I tell IT?",
                "How quickly do lost devices need to be reported?",
            ],
        ),
        policy(
            AU,
            "No.",
            "U2.1",
            [
                "Can I install a free PDF editor I downloaded from the internet?",
                "Am I allowed to install Spotify on my company laptop?",
                "May I put my own software on my work computer?",
            ],
        ),
        policy(
            AU,
            "It depends.",
            "U2.2",
            [
                "Can I read work email on my own phone?",
                "Is it okay to set up company mail on my personal iPhone?",
                "May I use my private mobile for company email?",
            ],
        ),
        policy(
            AU,
            "At most 30 days.",
            "U2.3",
            [
                "How long does a USB storage exception last?",
                "If IT Security approves my USB drive, for how long?",
                "What's the maximum duration of an approved USB exception?",
            ],
        ),
        policy(
            AU,
            "No.",
            "U3.1",
            [
                "Can I paste a customer's address into ChatGPT to draft a letter?",
                "Is it fine to put confidential figures into a public AI chatbot?",
                "May I use a public AI chat tool to summarise an employee's personal file?",
                "Can I upload a confidential contract to a free AI assistant?",
            ],
        ),
        policy(
            AU,
            "No.",
            "U3.2",
            [
                "Can I use an AI coding assistant that isn't in the software centre?",
                "I found a great AI tool online. May I use it for work?",
                "Are AI tools outside the software centre allowed for company tasks?",
            ],
        ),
        policy(
            AU,
            "Yes.",
            "U3.2, U3.1",
            [
                "Can I use an AI tool that is listed in the software centre for my work?",
                "Is an AI assistant from the software centre approved for company work?",
            ],
            "Only AI tools listed in the software centre may be used for company work [1]. Confidential or "
            "personal data must still not be entered into public AI chat tools [1].",
        ),
        policy(
            AU,
            "Yes.",
            "U4.1",
            [
                "Does IT Security monitor what I do on company systems?",
                "Can my use of company systems be monitored?",
                "Is my work laptop activity watched by IT?",
            ],
            "IT Security may monitor the use of company systems to protect them [1].",
        ),
        policy(
            AU,
            "It depends.",
            "U4.1",
            [
                "Can I do online banking on my work laptop at lunch?",
                "Is personal use of company systems allowed?",
                "May I check my private email on the office PC now and then?",
                "Am I allowed to use my work computer for personal stuff?",
            ],
            "Personal use of company systems is tolerated if it is occasional and does not break any other rule [1].",
        ),
        # data-retention.html
        policy(
            DR,
            "Yes.",
            "D2.3",
            [
                "A rejected candidate agreed in writing that we keep her CV for future roles. May we hold it "
                "for two years?",
                "With written consent, can an unsuccessful applicant's file stay on record for 2 years?",
            ],
            "Applications of candidates who were not hired may be kept for 2 years with the candidate's written "
            "consent [1].",
        ),
        policy(
            DR,
            "No.",
            "D1.2",
            [
                "Records under a legal hold have passed their retention period. Can I delete them?",
                "Can the retention job delete files covered by a legal hold?",
                "May I purge old shipping records that are on legal hold?",
            ],
        ),
        policy(
            DR,
            "First week of every quarter.",
            "D3.1",
            [
                "When does the automated deletion run?",
                "How often are expired records removed?",
                "When will records past their retention period actually be deleted?",
            ],
        ),
        policy(
            DR,
            "No.",
            "D3.2",
            [
                "Can I throw old paper invoices in the recycling bin?",
                "Is it okay to put paper records in the normal trash?",
                "May I bin printed customer files with ordinary waste?",
            ],
        ),
        policy(
            DR,
            "Within 30 days.",
            "D3.3",
            [
                "A customer asked us to erase their data. How long do we have to reply?",
                "What is the deadline for answering a deletion request?",
                "How quickly must we respond when someone asks us to delete their personal data?",
            ],
        ),
        policy(
            DR,
            "Deleted or anonymised.",
            "D1.1",
            [
                "What happens to personal data when its retention period ends?",
                "Once the retention period is over, what do we do with personal data?",
            ],
        ),
        policy(
            DR,
            "No.",
            "D1.1",
            [
                "Can we keep personal data forever, just in case?",
                "Is it fine to store personal data indefinitely?",
            ],
        ),
        policy(
            DR,
            "Yes.",
            "D2.5",
            [
                "Can we keep warehouse CCTV longer than 30 days after a break-in?",
                "Footage is needed for an incident investigation. May we keep it past the usual period?",
            ],
            "CCTV footage from warehouses is kept for 30 days, unless it is needed to investigate an incident [1].",
        ),
        policy(
            DR,
            "No.",
            "D2.6",
            [
                "Will an email I filed as a business record be deleted after 3 years?",
                "Are emails filed as business records also removed after three years?",
            ],
            "Emails filed as business records follow the period of their record type, not the 3 years for emails [1].",
        ),
        # gifts-and-hospitality.md
        policy(
            GH,
            "Yes.",
            "G1.1",
            [
                "A customer sent me a €40 bottle of wine. Can I keep it?",
                "Can I accept a small gift worth about €30 from a business partner?",
                "May I keep a box of chocolates worth €15 from a client?",
            ],
        ),
        policy(
            GH,
            "No.",
            "G1.1",
            [
                "Do I need approval for a €25 gift from a partner?",
                "Must I get a gift worth €45 approved before keeping it?",
            ],
            "Employees may accept gifts worth up to €50 from a business partner without approval [1].",
        ),
        policy(
            GH,
            "Only with approval.",
            "G1.2",
            [
                "A supplier gave me headphones worth €120. May I keep them?",
                "Can I accept a €200 watch from a business partner?",
                "Is it okay to keep a gift valued at €80?",
                "What if a partner's gift is worth more than €50?",
            ],
        ),
        policy(
            GH,
            "Within 5 working days.",
            "G1.2",
            [
                "How long do I have to record a gift in the gifts register?",
                "Deadline for declaring a gift over €50?",
                "When must a large gift be declared?",
            ],
        ),
        policy(
            GH,
            "The Compliance Officer.",
            "G1.2",
            [
                "Who approves gifts above €50?",
                "Whose approval do I need to keep an expensive gift?",
            ],
            "Gifts worth more than €50 need approval from the Compliance Officer before they are kept [1].",
        ),
        policy(
            GH,
            "No.",
            "G1.3",
            [
                "A customer tipped me €20 in cash. Can I keep it?",
                "Can I accept cash as a thank-you from a client?",
                "Is a small cash gift from a business partner okay?",
            ],
        ),
        policy(
            GH,
            "No.",
            "G1.4",
            [
                "A supplier bidding in our current tender sent me a gift. Can I accept it?",
                "May I take a present from a supplier while their tender is still open?",
                "Is a small gift from a bidder in an open tender allowed?",
            ],
        ),
        policy(
            GH,
            "Yes.",
            "G2.1",
            [
                "A partner wants to take me to a €70 lunch. Is that allowed?",
                "Can a business partner pay for my dinner?",
                "May I let a supplier buy me a business meal?",
            ],
        ),
        policy(
            GH,
            "At most four times a year.",
            "G2.1",
            [
                "How often can the same partner pay for my meals?",
                "How many business dinners a year may one partner cover?",
            ],
        ),
        policy(
            GH,
            "€100 per person.",
            "G2.1",
            [
                "What's the maximum value of a business meal paid by a partner?",
                "How expensive can a partner-paid meal be?",
            ],
        ),
        policy(
            GH,
            "Only with approval.",
            "G2.2",
            [
                "A partner invited me to a conference including flights and a hotel. Can I go?",
                "Can I accept an invitation to an event with an overnight stay paid by a supplier?",
                "May I attend a customer's event abroad that includes travel?",
            ],
        ),
        policy(
            GH,
            "No.",
            "G3.1",
            [
                "Can I give a client a €100 Christmas hamper?",
                "Is a €90 gift to a customer okay?",
                "May I send a business partner a €120 present?",
            ],
        ),
        policy(
            GH,
            "€75 per person per year.",
            "G3.1",
            [
                "What's the limit for gifts we give to business partners?",
                "How much may I spend on a client gift each year?",
            ],
        ),
        policy(
            GH,
            "Only with approval.",
            "G3.2",
            [
                "Can I give a small gift to a customs officer?",
                "May I invite a port authority official to lunch?",
                "Is hospitality for a government inspector allowed?",
            ],
        ),
        policy(
            GH,
            "Possible disciplinary action.",
            "G4.1",
            [
                "What happens if someone breaks the gifts policy?",
                "What are the consequences of ignoring the gift rules?",
            ],
        ),
        policy(
            GH,
            "The Compliance Officer.",
            "G4.1",
            [
                "Who do I report a gifts policy breach to?",
                "A colleague accepted cash from a supplier. Who should know about it?",
            ],
        ),
        # leave-policy.md
        policy(
            LV,
            "27 days, plus public holidays.",
            "L1.1",
            [
                "How many vacation days do full-time staff get?",
                "What's my annual leave entitlement as a full-timer?",
                "How much paid holiday do I get per year?",
                "Annual leave allowance for full-time employees?",
            ],
        ),
        policy(
            LV,
            "In proportion to your hours.",
            "L1.2",
            [
                "I work part-time. How much leave do I get?",
                "How is annual leave calculated for part-time employees?",
            ],
        ),
        policy(
            LV,
            "No.",
            "L1.2, L1.1",
            [
                "Do part-timers get the full 27 days?",
                "As a part-time worker, is my leave the same as full-time staff?",
            ],
            "Part-time employees receive leave in proportion to their contracted hours [1], while 27 days is the "
            "full-time entitlement [1].",
        ),
        policy(
            LV,
            "30 days.",
            "L1.3",
            [
                "How much leave do I get after 5 years of service?",
                "What's the leave entitlement for long-serving staff?",
                "I've been here six years. How many leave days do I have?",
            ],
        ),
        policy(
            LV,
            "In the HR portal; your line manager approves.",
            "L2.1",
            [
                "How do I request time off?",
                "Who approves my holiday request?",
                "Where do I book annual leave?",
            ],
        ),
        policy(
            LV,
            "At least 4 weeks in advance.",
            "L2.2",
            [
                "I want to take three weeks off in July. How far ahead must I ask?",
                "What's the notice needed for a long holiday?",
                "When must I request more than 10 working days in a row?",
            ],
        ),
        policy(
            LV,
            "Only with approval.",
            "L2.3",
            [
                "I'm a forklift driver in the warehouse. Can I take leave on 20 December?",
                "Can fleet staff go on holiday in early January?",
                "Warehouse role: is leave during peak season allowed?",
            ],
        ),
        policy(
            LV,
            "By 31 March.",
            "L3.1",
            [
                "Until when can I use days carried over from last year?",
                "When do carried-over leave days expire?",
                "I carried over days from 2025. By when must I take them?",
            ],
        ),
        policy(
            LV,
            "It depends.",
            "L3.2",
            [
                "What happens to my unused leave beyond five days?",
                "Do I lose leave days I didn't take this year?",
            ],
        ),
        policy(
            LV,
            "No.",
            "L3.2",
            [
                "I was ill for months and couldn't use my leave. Do I lose the days above 5?",
                "Are unused days lost if illness stopped me from taking them?",
            ],
        ),
        policy(
            LV,
            "It depends.",
            "L4.1",
            [
                "I got the flu on holiday. Do I get those days back?",
                "If I'm sick during my vacation, is it still counted as leave?",
                "Fell ill while on annual leave. Can I recover the days?",
            ],
        ),
        policy(
            (LV, RW),
            "15 November to 15 January.",
            "L2.3, R1.3",
            [
                "When is peak season?",
                "What dates count as the peak season?",
                "Which months are affected by the peak season rules?",
            ],
            "Peak season runs from 15 November to 15 January, when warehouse and fleet leave needs site manager "
            "approval [1] and remote work may be withdrawn [2].",
        ),
        # remote-work.md
        policy(
            RW,
            "No.",
            "R1.1",
            [
                "I started last month and I'm still on probation. Can I work from home?",
                "Can new hires work remotely during probation?",
                "Is remote work allowed before probation ends?",
            ],
        ),
        policy(
            RW,
            "Up to 3 days a week.",
            "R1.1",
            [
                "How many days per week can I work from home?",
                "What's the maximum number of remote days each week?",
            ],
        ),
        policy(
            RW,
            "No.",
            "R1.1",
            [
                "Can I work from home four days a week?",
                "Is working remotely every day of the week allowed?",
            ],
            "Employees who have completed their probation period may work remotely up to 3 days per week [1].",
        ),
        policy(
            RW,
            "No.",
            "R1.2",
            [
                "I drive for the fleet team. Can I work remotely?",
                "Are warehouse staff eligible for home working?",
                "Can a warehouse supervisor work from home on Fridays?",
            ],
        ),
        policy(
            RW,
            "Yes.",
            "R1.3",
            [
                "Can my manager cancel remote work for our team in December?",
                "May a line manager withdraw remote working during peak season?",
            ],
        ),
        policy(
            RW,
            "A laptop, a monitor and a headset.",
            "R2.1",
            [
                "What equipment does the company give me for working from home?",
                "What hardware is provided for remote work?",
            ],
        ),
        policy(
            RW,
            "€300, once.",
            "R2.2",
            [
                "How much is the home office allowance?",
                "What can I claim to set up my home office?",
                "Is there money for a desk and chair at home?",
            ],
        ),
        policy(
            RW,
            "No.",
            "R2.2",
            [
                "I started working remotely 9 months ago. Can I still claim the home office allowance?",
                "Can I claim the €300 allowance a year after I began remote work?",
            ],
            "The one-off €300 home office allowance is claimable within 6 months of starting remote work [1].",
        ),
        policy(
            RW,
            "No.",
            "R2.3",
            [
                "Can my kids use my work laptop for homework?",
                "May my partner borrow my company monitor?",
                "Is it okay if my family uses the company headset?",
            ],
        ),
        policy(
            RW,
            "Only with approval.",
            "R3.2, R3.3",
            [
                "Can I work from my parents' place in Spain for a week?",
                "May I work remotely from Portugal next month?",
                "Can I work from abroad for a few days?",
            ],
            "Working from abroad needs approval from the line manager and the People team at least 14 days in "
            "advance [1]. Countries on the sanctions list are never allowed [1].",
        ),
        policy(
            RW,
            "At least 14 days in advance.",
            "R3.2",
            [
                "How far ahead must I request to work from abroad?",
                "What's the notice needed for working from another country?",
            ],
        ),
        policy(
            RW,
            "No.",
            "R3.3",
            [
                "Can I work from a country on the sanctions list?",
                "Is working from a sanctioned country ever allowed?",
            ],
        ),
        policy(
            RW,
            "Yes.",
            "R4.1",
            [
                "Do I need the VPN when working from home?",
                "Is the company VPN mandatory for remote work?",
                "Must I stay on the VPN all day at home?",
            ],
        ),
        policy(
            RW,
            "It depends.",
            "R4.2",
            [
                "Can I work from a coffee shop's public Wi-Fi?",
                "Is hotel Wi-Fi okay for remote work?",
                "May I connect my work laptop to airport Wi-Fi?",
            ],
            "Public Wi-Fi may be used only through the VPN [1].",
        ),
        policy(
            RW,
            "No.",
            "R4.2",
            [
                "Can I print confidential reports on my home printer?",
                "Is printing confidential documents at home okay?",
            ],
            "Printing confidential documents at home is not allowed [1].",
        ),
        policy(
            (RW, LV),
            "No remote work; peak-season leave needs approval.",
            "R1.2, L2.3",
            [
                "I'm a warehouse operative. Can I work from home, and can I take leave in December freely?",
                "What special rules apply to fleet staff for remote work and holidays?",
            ],
            "Warehouse and fleet roles are not eligible for remote work [1]. During peak season their leave needs "
            "approval from the site manager [2].",
        ),
        policy(
            (RW, AU),
            "No.",
            "R2.1, U2.1",
            [
                "Can I install my own apps on the laptop I got for working from home?",
                "May I add a personal video editor to my home-office laptop?",
            ],
            "The laptop for home use is provided by the company [1], and only software from the company software "
            "centre may be installed on company laptops [2].",
        ),
        policy(
            (RW, AU),
            "Yes.",
            "R4.1, U1.2",
            [
                "Do I need both the VPN and MFA when working from home?",
                "Working remotely, must I use the VPN and multi-factor authentication?",
            ],
            "Remote work must use the company VPN at all times [1]. Multi-factor authentication is required for "
            "all accounts [2].",
        ),
        # travel-expenses.md
        policy(
            TE,
            "Yes.",
            "T1.1",
            [
                "I'm a contractor. Does the travel policy apply to me?",
                "Are contractors covered by the travel and expenses rules?",
            ],
        ),
        policy(
            TE,
            "Through the company travel portal.",
            "T1.2, T3.4",
            [
                "How do I book business travel?",
                "Where must work trips be booked?",
            ],
            "Travel must be booked through the company travel portal [1], unless the portal price is at least 15% "
            "higher [1].",
        ),
        policy(
            TE,
            "No.",
            "T2.1",
            [
                "Do I need approval for a €300 domestic trip?",
                "Does a cheap trip within the country need prior approval?",
                "Is approval required for a €450 trip inside the home country?",
            ],
        ),
        policy(
            TE,
            "Yes.",
            "T2.2",
            [
                "Do I need approval for a trip abroad?",
                "Is manager approval needed before booking a €600 domestic trip?",
                "Must I get sign-off before booking travel to another country?",
            ],
        ),
        policy(
            TE,
            "Line manager and Finance Director.",
            "T2.3, T2.2",
            [
                "Who must approve a €6,000 trip?",
                "Whose approval do I need for a very expensive trip over €5,000?",
            ],
            "Trips costing more than €5,000 need written approval from the line manager [1] and also approval "
            "from the Finance Director [1].",
        ),
        policy(
            TE,
            "No.",
            "T3.1",
            [
                "Can I book first class on the train?",
                "Is first-class rail reimbursed?",
                "May I upgrade to first class for a 2-hour train trip?",
            ],
            "For rail, the policy allows standard class only [1].",
        ),
        policy(
            TE,
            "Rail.",
            "T3.1",
            [
                "For a 3-hour journey, should I take the train or fly?",
                "What's the default transport for short journeys?",
            ],
            "Rail is the default for journeys under 4 hours [1].",
        ),
        policy(
            TE,
            "Yes.",
            "T3.2",
            [
                "Can I fly premium economy on an 8-hour flight?",
                "Is premium economy allowed on a 12-hour flight to Singapore?",
                "Premium economy for a 7-hour flight, is that allowed?",
            ],
            "Premium economy is allowed for flights longer than 6 hours [1].",
        ),
        policy(
            TE,
            "No.",
            "T3.2",
            [
                "Can I book premium economy for a 3-hour flight?",
                "Is premium economy ok for a 2-hour flight to Berlin?",
            ],
            "Economy class is the default for flights [1]. Premium economy is allowed only for flights longer "
            "than 6 hours [1].",
        ),
        policy(
            TE,
            "Yes.",
            "T3.3",
            [
                "My train arrived at 23:30. Can I claim the taxi home?",
                "Is a taxi at 5 in the morning reimbursed?",
            ],
        ),
        policy(
            TE,
            "No.",
            "T3.3",
            [
                "Can I expense a taxi at 14:00 when the bus is running?",
                "Is a midday taxi reimbursed if there is a metro?",
            ],
        ),
        policy(
            TE,
            "It depends.",
            "T3.4, T1.2",
            [
                "I found a cheaper hotel online. Can I book it outside the portal?",
                "May I book a flight directly with the airline if it's cheaper?",
                "Can I skip the travel portal when I find a better price?",
            ],
            "Bookings outside the travel portal are allowed only when the portal price is at least 15% higher; "
            "keep a screenshot of the portal price [1].",
        ),
        policy(
            TE,
            "€0.30 per kilometre.",
            "T3.5",
            [
                "What's the mileage rate for using my own car?",
                "How much do I get per km when I drive my private car?",
                "Private car reimbursement rate?",
            ],
        ),
        policy(
            TE,
            "€150 per night; €220 in four cities.",
            "T4.1",
            [
                "What's the hotel limit per night?",
                "How much can I spend on a hotel room?",
                "Nightly hotel cap on business trips?",
            ],
        ),
        policy(
            TE,
            "Yes.",
            "T4.1",
            [
                "Is a €200 hotel in Paris okay?",
                "Can I book a €210 room in Zurich?",
                "Will a €180 night in London be reimbursed?",
            ],
            "Hotels are reimbursed up to €220 per night in London, Paris, Zurich and New York [1].",
        ),
        policy(
            TE,
            "No.",
            "T4.1",
            [
                "Is a €190 hotel in Madrid reimbursed in full?",
                "Will a €180-a-night hotel in Hamburg be reimbursed in full?",
            ],
        ),
        policy(
            TE,
            "No.",
            "T4.2",
            [
                "Can I claim the wine I had with dinner?",
                "Is a beer with my meal reimbursable?",
                "Are alcoholic drinks covered on a business trip?",
            ],
            "Alcohol is never reimbursed [1].",
        ),
        policy(
            TE,
            "No.",
            "T4.3",
            [
                "Lunch was included in my conference fee but I ate elsewhere. Can I claim it?",
                "Can I expense breakfast when it's included in the hotel rate?",
                "Are meals already covered by the conference fee reimbursed again?",
            ],
        ),
        policy(
            TE,
            "Within 30 days.",
            "T5.1",
            [
                "When do I have to submit my expense claim?",
                "What's the deadline for travel expenses?",
                "How long after a trip can I file expenses?",
            ],
        ),
        policy(
            TE,
            "No.",
            "T5.2",
            [
                "I forgot to file a claim for a trip four months ago. Will it be paid?",
                "Can I submit an expense claim 100 days after the trip?",
            ],
        ),
        policy(
            TE,
            "Yes.",
            "T5.3",
            [
                "I lost a €15 taxi receipt. Can I still claim it?",
                "Can a signed declaration replace a lost €20 receipt?",
            ],
            "Lost receipts below €25 can be replaced by a signed declaration [1].",
        ),
        policy(
            TE,
            "No.",
            "T5.3",
            [
                "I lost the receipt for a €60 dinner. Can I still get reimbursed?",
                "Is a lost €40 receipt reimbursable with a declaration?",
            ],
        ),
    ]


POLICY_UNANSWERED = (
    "What is the parental leave policy?",
    "How many weeks of maternity leave do I get?",
    "How much sick pay do I receive?",
    "Is there a waiting day before sick pay starts?",
    "What does the company contribute to my pension?",
    "Do we have a bonus scheme?",
    "Can I get a company car?",
    "Is there a cycle-to-work scheme?",
    "How is overtime compensated?",
    "What are the core working hours?",
    "Is there a dress code in the office?",
    "Can I bring my dog to the office?",
    "Is there a whistleblowing hotline?",
    "How long is the probation period?",
    "What is the notice period when I resign?",
    "Can I take unpaid leave?",
    "Is there a sabbatical option?",
    "Does the company pay for visa fees on business trips?",
    "Are travel vaccinations reimbursed?",
    "How much is the training budget per employee?",
    "Will the company pay for a professional certification?",
    "What are the rules for posting about work on social media?",
    "Do we get a salary increase after five years of service?",
    "Is there a referral bonus for recommending candidates?",
    "How many days of bereavement leave do I get?",
    "Do we get paid time off for volunteering?",
    "Is there a subsidy for lunches in the canteen?",
    "Do employees get a discount on shipping with Orbital Freight?",
)


# --------------------------------------------------------------------------- build


def build(domain: str, corpus: Corpus) -> list[Example]:
    examples: list[Example] = []
    unanswered: Sequence[str]
    if domain == "support":
        for s_intent in support_intents(corpus):
            answer = s_intent.answer()
            examples += [example(q, answer, s_intent.sources, domain) for q in s_intent.questions]
        unanswered = SUPPORT_UNANSWERED
    else:
        clause_texts = corpus.clauses()
        for p_intent in policy_intents(corpus):
            answer = p_intent.answer(clause_texts)
            examples += [example(q, answer, p_intent.sources, domain) for q in p_intent.questions]
        unanswered = POLICY_UNANSWERED
    examples += [example(q, REFUSALS[domain], (), domain) for q in unanswered]
    random.Random(f"{SEED}-{domain}").shuffle(examples)
    return examples


def example(question: str, answer: str, sources: Sequence[str], domain: str) -> Example:
    record: Example = {"question": question, "answer": answer}
    if sources:
        record["sources"] = list(sources)
    record["domain"] = domain
    return record


# --------------------------------------------------------------------------- checks


def normalise(question: str) -> str:
    """Lowercased, punctuation stripped: ``"Wi-Fi?"`` -> ``"wifi"``."""
    return " ".join(re.sub(r"[^\w\s]", "", question.lower()).split())


def word_sets(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The question's words with punctuation stripped, and with punctuation read as a space ("wi fi")."""
    lowered = question.lower()
    return frozenset(normalise(question).split()), frozenset(re.findall(r"[^\W_]+", lowered))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def leakage(examples: Sequence[Example], eval_questions: Sequence[str]) -> list[str]:
    """Training questions equal to an eval question, or near one (either way of splitting words)."""
    problems = []
    prepared = [(q, normalise(q), word_sets(q)) for q in eval_questions]
    for record in examples:
        question = str(record["question"])
        mine, my_sets = normalise(question), word_sets(question)
        for original, theirs, their_sets in prepared:
            score = max(jaccard(a, b) for a, b in zip(my_sets, their_sets, strict=True))
            if mine == theirs or score >= JACCARD_LIMIT:
                problems.append(f"leaks eval question {original!r} (Jaccard {score:.2f}): {question!r}")
    return problems


SUPPORT_LEAD = re.compile(r"^[^\n]+\[\d\]\.$")
SUPPORT_STEP = re.compile(r"^(\d)\. [^\n]+ \[\d\]$")
POLICY_ANSWER = re.compile(r"^Verdict: [^\n]+\.\n[^\n]*\[\d\][^\n]*\nClauses: [A-Z]\d\.\d(, [A-Z]\d\.\d)*$")
CITATION = re.compile(r"\[(\d+)\]")


def check_format(domain: str, answer: str) -> str | None:
    if domain == "policy":
        return None if POLICY_ANSWER.match(answer) else "not 'Verdict / reason / Clauses'"
    lead, _, body = answer.partition("\n\n")
    if not SUPPORT_LEAD.match(lead):
        return "lead is not one sentence ending with a citation"
    steps = body.split("\n")
    numbers = [SUPPORT_STEP.match(step) for step in steps]
    if not all(numbers) or [int(m.group(1)) for m in numbers if m] != list(range(1, len(steps) + 1)):
        return "steps are not '1. ... [n]' numbered from 1"
    if not 1 <= len(steps) <= 6:
        return f"{len(steps)} steps"
    return None


def check_grounding(answer: str, texts: Sequence[str], clause_ids: set[str]) -> list[str]:
    """Numbers, menu paths and clause ids of the answer must appear in the cited documents."""
    problems = []
    body = re.sub(r"^\d+\. ", "", CITATION.sub("", answer), flags=re.M)
    for number in re.findall(r"\d+(?:[.,:/]\d+)*", body):
        if not any(re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d])", t) for t in texts):
            problems.append(f"number {number} is in no cited document")
    for left, right in re.findall(r"([\w.-]+) > ([\w.-]+)", answer):
        if not any(f"{left} > {right}" in t for t in texts):
            problems.append(f"menu path '{left} > {right}' is in no cited document")
    clause_line = answer.rsplit("\n", 1)[-1]
    if clause_line.startswith("Clauses: ") and clause_line != "Clauses: none":
        for clause in clause_line.removeprefix("Clauses: ").split(", "):
            if clause not in clause_ids:
                problems.append(f"clause {clause} is in no cited document")
    return problems


def validate(domain: str, examples: Sequence[Example], corpus: Corpus, eval_questions: Sequence[str]) -> list[str]:
    problems: list[str] = []
    clauses = corpus.clauses()
    seen: dict[str, str] = {}
    for record in examples:
        question, answer = str(record.get("question", "")), str(record.get("answer", ""))
        where = f"[{domain}] {question!r}"

        def fail(message: str, where: str = where) -> None:
            problems.append(f"{where}: {message}")

        if set(record) - {"question", "answer", "sources", "domain"} or record.get("domain") != domain:
            fail("unexpected keys or domain")
        if not question or not answer:
            fail("empty question or answer")
        if normalise(question) in seen:
            fail(f"duplicates {seen[normalise(question)]!r}")
        seen[normalise(question)] = question
        sources = record.get("sources", [])
        assert isinstance(sources, list)
        cited_numbers = {int(n) for n in CITATION.findall(answer)}
        if answer == REFUSALS[domain]:
            if sources or "sources" in record:
                fail("a refusal lists sources")
            continue
        if not sources:
            fail("an answer without sources")
            continue
        missing = [s for s in sources if s not in corpus.texts]
        if missing or len(set(sources)) != len(sources) or len(sources) > 2:
            fail(f"bad sources {sources}")
            continue
        if not cited_numbers or max(cited_numbers) > len(sources):
            fail(f"cites {sorted(cited_numbers)} with {len(sources)} source(s)")
        if cited_numbers != set(range(1, len(sources) + 1)):
            fail("not every source is cited")
        if len(answer.split()) > MAX_WORDS[domain]:
            fail(f"{len(answer.split())} words, more than {MAX_WORDS[domain]}")
        if (problem := check_format(domain, answer)) is not None:
            fail(problem)
        texts = [corpus.texts[s] for s in sources]
        clause_ids = {c for c, (source, _) in clauses.items() if source in sources}
        for problem in check_grounding(answer, texts, clause_ids):
            fail(problem)
        if domain == "policy":
            listed = answer.rsplit("\n", 1)[-1].removeprefix("Clauses: ").split(", ")
            if {clauses[c][0] for c in listed if c in clauses} != set(sources):
                fail("the listed clauses do not match the sources")
    problems += leakage(examples, eval_questions)
    refusals = sum(1 for record in examples if record["answer"] == REFUSALS[domain])
    share = refusals / len(examples) if examples else 0.0
    if len(examples) < MIN_EXAMPLES:
        problems.append(f"[{domain}] only {len(examples)} examples, fewer than {MIN_EXAMPLES}")
    if not REFUSAL_SHARE[0] <= share <= REFUSAL_SHARE[1]:
        problems.append(f"[{domain}] refusal share {share:.1%} is outside {REFUSAL_SHARE}")
    return problems


def read_eval_questions() -> list[str]:
    with EVAL_QUESTIONS.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def main() -> int:
    eval_questions = read_eval_questions()
    built: dict[str, list[Example]] = {}
    problems: list[str] = []
    for domain in DOMAINS:
        corpus = Corpus.load(domain)
        built[domain] = build(domain, corpus)
        problems += validate(domain, built[domain], corpus, eval_questions)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"{len(problems)} problem(s); nothing written.", file=sys.stderr)
        return 1

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for domain, examples in built.items():
        path = OUT_DIR / f"{domain}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in examples), encoding="utf-8")
        # Read back what was written: every line parses and passes the same checks.
        lines = path.read_text(encoding="utf-8").splitlines()
        reread = [json.loads(line) for line in lines]
        again = validate(domain, reread, Corpus.load(domain), eval_questions)
        if again or reread != examples:
            print("\n".join(again) or f"{path} does not read back as written", file=sys.stderr)
            return 1
        refusals = sum(1 for r in reread if r["answer"] == REFUSALS[domain])
        two = sum(1 for r in reread if len(r.get("sources", [])) == 2)
        print(
            f"{domain}: {len(reread)} examples ({len(reread) - refusals} answered, {two} of them from two "
            f"sources; {refusals} refusals) -> {path.relative_to(REPO)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
