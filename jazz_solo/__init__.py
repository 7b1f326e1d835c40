"""jazz-solo: LoRA-adapted Music Transformer that improvises a right-hand solo over comping MIDI."""
__version__ = "0.1.0"
