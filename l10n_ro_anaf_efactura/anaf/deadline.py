"""The legal transmission deadline: 5 working days after the issue date (Romania).

Working days skip weekends and Romanian public holidays (Labour Code art. 139):
1-2 January, 6-7 January, 24 January, Orthodox Good Friday, Easter Sunday and
Monday, 1 May, 1 June, Orthodox Pentecost Sunday and Monday, 15 August,
30 November, 1 December, 25-26 December.
"""

from datetime import date, timedelta

DEADLINE_WORKING_DAYS = 5


def orthodox_easter(year):
    """Gregorian date of Orthodox Easter (Meeus' Julian algorithm)."""
    a, b, c = year % 4, year % 7, year % 19
    d = (19 * c + 15) % 30
    e = (2 * a + 4 * b - d + 34) % 7
    month = (d + e + 114) // 31
    day = ((d + e + 114) % 31) + 1
    julian = date(year, month, day)
    return julian + timedelta(days=13)  # valid 1900-2099


def holidays(year):
    easter = orthodox_easter(year)
    fixed = [
        (1, 1),
        (1, 2),
        (1, 6),
        (1, 7),
        (1, 24),
        (5, 1),
        (6, 1),
        (8, 15),
        (11, 30),
        (12, 1),
        (12, 25),
        (12, 26),
    ]
    days = {date(year, m, d) for m, d in fixed}
    days |= {
        easter - timedelta(days=2),
        easter,
        easter + timedelta(days=1),
        easter + timedelta(days=49),
        easter + timedelta(days=50),
    }
    return days


def is_working_day(day):
    return day.weekday() < 5 and day not in holidays(day.year)


def add_working_days(start, count):
    day = start
    added = 0
    while added < count:
        day += timedelta(days=1)
        if is_working_day(day):
            added += 1
    return day


def deadline(issue_date, working_days=DEADLINE_WORKING_DAYS):
    return add_working_days(issue_date, working_days)


def working_days_left(issue_date, today, working_days=DEADLINE_WORKING_DAYS):
    """Working days from today to the deadline (0 = due today, negative = late)."""
    limit = deadline(issue_date, working_days)
    if today <= limit:
        count, day = 0, today
        while day < limit:
            day += timedelta(days=1)
            if is_working_day(day):
                count += 1
        return count
    count, day = 0, limit
    while day < today:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return count
