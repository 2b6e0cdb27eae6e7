"""Date expressions resolved against publication dates, checked against values resolved
by hand (calendar of 2023: 8 March was a Wednesday)."""

from __future__ import annotations

from datetime import date

import pytest

from challenge_qa.text.dates import find_dates, format_value, parse_published

WED = "2023-03-08"  # the CNN article's date, a Wednesday
MON = "2024-01-15"  # a Monday in January: "December" is last year's

# (text, publication date, [(matched text, value, precision, relative, qualifier)])
TABLE = [
    ("Russian film makers on Tuesday released a trailer", WED,
     [("on Tuesday", "2023-03-07", "day", True, None)]),
    ("the film was shot in October 2021 over 12 days", WED,
     [("October 2021", "2021-10", "month", False, None)]),
    ("an open casting call in November 2020.", WED,
     [("November 2020", "2020-11", "month", False, None)]),
    ("announced in July 2022 that it would leave the station after 2024.", WED,
     [("July 2022", "2022-07", "month", False, None), ("2024", "2024", "year", False, "after")]),
    ("a 2002 IMAX documentary and a 2012 film", WED,
     [("2002", "2002", "year", False, None), ("2012", "2012", "year", False, None)]),
    ("\u201cThe Challenge\u201d will be released on April 12.", WED,
     [("April 12", "2023-04-12", "day", True, None)]),
    ("launched to the orbital outpost on October 5, 2021.", WED,
     [("October 5, 2021", "2021-10-05", "day", False, None)]),
    ("scheduled for release on April 12, 2023.", None,
     [("April 12, 2023", "2023-04-12", "day", False, None)]),
    ("Sputnik in 1957, Gagarin in 1961", None,
     [("1957", "1957", "year", False, None), ("1961", "1961", "year", False, None)]),
    ("It happened last July.", WED, [("last July", "2022-07", "month", True, None)]),
    ("It will happen next July.", WED, [("next July", "2023-07", "month", True, None)]),
    ("It opened this July.", WED, [("this July", "2023-07", "month", True, None)]),
    ("the crew returned in mid-October", WED, [("mid-October", "2022-10", "month", True, None)]),
    ("The vote is next Friday.", WED, [("next Friday", "2023-03-10", "day", True, None)]),
    ("The film will open on Friday.", WED, [("on Friday", "2023-03-10", "day", True, None)]),
    ("The studio said on Friday that it was done.", WED,
     [("on Friday", "2023-03-03", "day", True, None)]),
    ("It rained on Wednesday.", WED, [("on Wednesday", "2023-03-08", "day", True, None)]),
    ("They met last Monday.", WED, [("last Monday", "2023-03-06", "day", True, None)]),
    ("They met yesterday.", WED, [("yesterday", "2023-03-07", "day", True, None)]),
    ("They meet tomorrow.", WED, [("tomorrow", "2023-03-09", "day", True, None)]),
    ("They meet today.", WED, [("today", "2023-03-08", "day", True, None)]),
    ("It began two years ago.", WED, [("two years ago", "2021", "year", True, None)]),
    ("It began 3 weeks ago.", WED, [("3 weeks ago", "2023-02-15", "day", True, None)]),
    ("It began five months ago.", WED, [("five months ago", "2022-10", "month", True, None)]),
    ("It began 10 days ago.", WED, [("10 days ago", "2023-02-26", "day", True, None)]),
    ("It began earlier this month.", WED,
     [("earlier this month", "2023-03", "month", True, None)]),
    ("Sales fell last year.", WED, [("last year", "2022", "year", True, None)]),
    ("Sales will rise next year.", WED, [("next year", "2024", "year", True, None)]),
    ("Sales fell last month.", WED, [("last month", "2023-02", "month", True, None)]),
    ("It was filmed on 12 March 2023.", None,
     [("12 March 2023", "2023-03-12", "day", False, None)]),
    ("on the 8th of March, 2023", None,
     [("8th of March, 2023", "2023-03-08", "day", False, None)]),
    ("published 2023-03-01T10:00Z", None, [("2023-03-01", "2023-03-01", "day", False, None)]),
    ("on Sept. 5, 2022", None, [("Sept. 5, 2022", "2022-09-05", "day", False, None)]),
    ("The party was on December 28.", MON,
     [("December 28", "2023-12-28", "day", True, None)]),
    ("The fair opens in December.", MON, [("in December", "2023-12", "month", True, None)]),
    ("The talks began on Jan 3.", MON, [("Jan 3", "2024-01-03", "day", True, None)]),
    ("The talks began on 3 January.", MON, [("3 January", "2024-01-03", "day", True, None)]),
    ("Prices rose since March.", WED, [("since March", "2023-03", "month", True, "since")]),
    ("Construction should finish by 2025.", WED, [("2025", "2025", "year", False, "by")]),
    ("The station runs until 2030.", WED, [("2030", "2030", "year", False, "until")]),
    # undated articles: relative mentions are kept, never guessed
    ("Russian film makers on Tuesday released a trailer", None,
     [("on Tuesday", None, "day", True, None)]),
    ("It happened last July.", None, [("last July", None, "month", True, None)]),
    ("The film opens on April 12.", None, [("April 12", None, "day", True, None)]),
    # not dates
    ("May it be so; they may come.", WED, []),
    ("It is 250 miles above earth, with 2,000 people and 1500 tonnes.", WED, []),
    ("February 30, 2021 is not a day.", WED, []),
    ("Just a few months after shooting wrapped", WED, []),
    ("prices up 2020 percent", WED, []),
]


@pytest.mark.parametrize(("text", "published", "expected"), TABLE,
                         ids=[f"{i:02d}-{t[:30]}" for i, (t, _, _) in enumerate(TABLE)])
def test_date_expressions_resolve_as_by_hand(text, published, expected):
    got = find_dates(text, published)
    assert [(m.text, m.value, m.precision, m.relative, m.qualifier) for m in got] == expected
    for m in got:
        assert text[m.start:m.end] == m.text


def test_table_is_large_enough():
    assert sum(len(e) for _, _, e in TABLE) >= 40


@pytest.mark.parametrize(("value", "expected"), [
    ("2023-03-08", date(2023, 3, 8)), ("2023-03-08T10:00:00Z", date(2023, 3, 8)),
    ("March 8, 2023", date(2023, 3, 8)), ("8 March 2023", date(2023, 3, 8)),
    (date(2023, 3, 8), date(2023, 3, 8)),
    ("March 2023", None), ("soon", None), ("", None), (None, None), ("2023-02-30", None),
])
def test_publication_dates(value, expected):
    assert parse_published(value) == expected


def test_labels_show_precision():
    assert format_value("2023-03-07", "day") == "7 March 2023"
    assert format_value("2021-10", "month") == "October 2021"
    assert format_value("2020", "year") == "2020"
    (m,) = find_dates("on Tuesday", WED)
    assert m.label == "7 March 2023"
