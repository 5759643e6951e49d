"""Built-in plugins: ordinary hook implementations registered like external ones."""
