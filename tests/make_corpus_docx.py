"""Write the Word files of tests/corpus (run from the repository: .venv/bin/python -m tests.make_corpus_docx).

Word files are zips, so the corpus keeps them as written here, by python-docx,
in the shapes newsrooms send them: a Title, bold speaker runs, headings, a
table of time, speaker and text, a tracked deletion that is not read.
"""

from __future__ import annotations

from pathlib import Path

import docx
from docx.oxml.ns import qn
from docx.oxml import OxmlElement

CORPUS = Path(__file__).resolve().parent / "corpus"


def _label(document, label: str, text: str, *, below: bool = False) -> None:
    p = document.add_paragraph()
    p.add_run(label).bold = True
    if below:  # the name alone on its line, the text after a line break
        p.add_run().add_break()
        p.add_run(text)
    else:
        p.add_run(f" {text}")


def newsroom() -> docx.Document:
    d = docx.Document()
    d.core_properties.title = "Untitled transcript"  # the Title paragraph wins
    d.add_paragraph("The Night Desk: Flood season", style="Title")
    d.add_paragraph("The river crested at Harmon Falls; our reporter was on the levee.", style="Subtitle")
    _label(d, "DANA KIM, HOST:", "Good evening. I'm Dana Kim, and this is The Night Desk.")
    d.add_paragraph("(SOUNDBITE OF MUSIC)")
    d.add_heading("The river", level=1)
    _label(d, "KIM:", "How high is the water tonight?")
    _label(d, "JOHN REYES, BYLINE:", "Higher than in 1993, Dana. [inaudible] The levee held, barely.")
    d.add_paragraph("(SOUNDBITE OF RAIN)")
    _label(d, "UNIDENTIFIED WOMAN:", "We filled sandbags all afternoon.")
    d.add_heading("The town", level=1)
    _label(d, "KIM:", "And what happens in the morning?")
    _label(d, "REYES:", "The engineers walk the levee at six (laughter), and then we'll know.")
    d.add_paragraph("Copyright © 2024 The Night Desk. All rights reserved.")
    return d


def interview_table() -> docx.Document:
    d = docx.Document()
    d.add_heading("Episode 12: Seed stories", level=1)
    intro = d.add_paragraph("Pia Sorel and the seed librarian Omar Haddad. ")
    # a tracked deletion: what the editor struck out is not read
    deleted = OxmlElement("w:del")
    deleted.set(qn("w:id"), "1")
    deleted.set(qn("w:author"), "Editor")
    run = OxmlElement("w:r")
    struck = OxmlElement("w:delText")
    struck.text = "Struck out by the editor."
    run.append(struck)
    deleted.append(run)
    intro._p.append(deleted)
    table = d.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Time", "Speaker", "Text")):
        cell.text = text
    for time, name, text in (("00:00:04", "Pia Sorel", "Hi, I'm Pia Sorel, and this is Field Day. Omar, where do "
                                                          "the seeds come from?"),
                             ("00:00:12", "Omar Haddad", "From kitchens, mostly. People bring what their "
                                                         "grandmothers grew."),
                             ("00:00:20", "Pia Sorel", "Do you keep every one?"),
                             ("00:00:23", "Omar Haddad", "We try. [laughs] The beans are easy; the squash is not.")):
        cells = table.add_row().cells
        for cell, value in zip(cells, (time, name, text)):
            cell.text = value
    _label(d, "PIA SOREL", "Omar Haddad, thank you.", below=True)
    _label(d, "OMAR HADDAD", "Thank you, Pia.", below=True)
    d.add_paragraph("Transcribed by Example Transcripts Ltd.")
    return d


def main() -> None:
    newsroom().save(CORPUS / "newsroom.docx")
    interview_table().save(CORPUS / "interview-table.docx")


if __name__ == "__main__":
    main()
