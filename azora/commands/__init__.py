"""One module per `azora` command group; `azora/cli.py` mounts them."""
