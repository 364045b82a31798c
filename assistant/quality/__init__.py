"""Quality review (质检, issue 15): from the turn log to better answers.

- ``rollup``: the turn log read once, in id order, into daily figures, conversations and
  unanswered utterances (incremental: only turns not yet counted are read);
- ``summary``: the dashboard's figures over N days, per channel and per day;
- ``grouping``: unanswered utterances grouped by characters and sounds, largest first;
- ``sampling``: the day's review sample, stratified plus targeted picks;
- ``review``: turn marks and experience ratings; ``rectification``: the items and their effect;
- ``charts``: SVG drawn on the server; ``report``: the daily report as HTML and PDF (Chromium);
- ``privacy``: what a reviewer sees of phone numbers and names.
"""
