"""The conversation layer of 小电: policy, answers, payments, speech, the composition root and the command line."""
