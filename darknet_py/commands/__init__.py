"""The command line's commands, one module per Darknet example program."""
