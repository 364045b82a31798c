"""The phone line: Asterisk's AudioSocket protocol, the gateway that serves calls through the one
voice pipeline, and the call registry the dialplan talks to before and after the socket."""
