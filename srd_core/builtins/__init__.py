"""Built-in plugins, registered through the `srd` entry-point group like any third-party plugin."""
