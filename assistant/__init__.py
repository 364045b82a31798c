"""The conversation layer of 小电: answers, settings and the command line."""
