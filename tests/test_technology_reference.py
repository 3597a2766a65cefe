"""The technology reference page (plugins/technology-reference.md) is the source the model cards cite: every
section a knob cites exists, §9 lists every default as the code has it, and every DOI and arXiv id has an
address in §8."""

from __future__ import annotations

import re
from pathlib import Path

from memtech.describe import REFERENCE_HEADING, reference_defaults
from memtech.plugins import load_plugins
from memtech import params

PAGE = Path(__file__).resolve().parent.parent / "plugins" / "technology-reference.md"
TEXT = PAGE.read_text(encoding="utf-8")


def _sections() -> set[str]:
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", TEXT, re.M))


def test_section_9_is_the_defaults_as_the_code_has_them():
    assert TEXT.split(REFERENCE_HEADING, 1)[1] == reference_defaults().split(REFERENCE_HEADING, 1)[1], (
        "plugins/technology-reference.md §9 differs from the code: rewrite it from `memtech describe --reference`")


def test_every_section_a_knob_cites_exists_on_the_page():
    registry = load_plugins(entry_points=False)
    sections = _sections()
    cited = set()
    for name in ("sram", "stt_mram", "dram", "reram"):
        technology = registry.memory(name)
        for row in params.describe(technology.Params(technology=name)):
            for ref in re.findall(r"technology-reference\.md (?:scope|((?:§\d+(?:\.\d+)?(?:[/,–-]§?\d+(?:\.\d+)?)*)))",
                                  row["source"]):
                cited.update(re.findall(r"(\d+(?:\.\d+)?)", ref))
            assert "memory-parameters" not in row["source"], row
    assert cited, "the built-in knobs cite the page"
    missing = {c for c in cited if c not in sections and c.split(".")[0] not in sections}
    assert not missing, f"knobs cite sections the page does not have: {sorted(missing)}"


def test_every_doi_and_arxiv_id_has_an_address():
    body, addresses = TEXT.split("## 8. Addresses of the sources", 1)
    for doi in set(re.findall(r"\b(10\.\d{4,5}/[A-Za-z0-9.\-]+[A-Za-z0-9])", body)):
        assert f"https://doi.org/{doi}" in addresses, doi
    for arxiv in set(re.findall(r"arXiv:(\d{4}\.\d{4,5})", body)):
        assert f"https://arxiv.org/abs/{arxiv}" in addresses, arxiv
