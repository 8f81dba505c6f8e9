"""The weekly export for the subdistrict office, and the figures the staff console's dashboard shares.

    figures.py  the figures of a range of days, and of each of the last weeks (one code path)
    sheets.py   the rows of the workbook's sheets and CSV files, personal data masked
    files.py    the writers: the workbook (XlsxWriter) and the CSV files, fed in one pass
    html.py     the HTML summary (the console's dashboard too) and the moderation chat's text
    build.py    one export: reads the days once, writes the files, returns the figures
    run.py      `python -m bot export`, and the bot's exporter (a child process)
"""
