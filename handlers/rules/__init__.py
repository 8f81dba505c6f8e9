"""The office's rules, pure: a ticket's life cycle and deadlines, what makes two reports one,
the quiet hours, working days. No I/O, no database, no clock of their own (`now` is passed in),
so db/ may use them to store and query by them, and tests need nothing but Python
(tests/test_layering.py keeps it so). Each submodule imports only what it uses: `ask` loads none.
"""
