"""Command-line interface: ``hpcml <subcommand>``, one module per subcommand."""
