"""offside's data layer, below evaluation and training: the benchmark registry (each benchmark registers
itself from its own folder), neutral training records, chat and image helpers, the fixture cache, the
tiny model and the LLM client. It names no benchmark."""
