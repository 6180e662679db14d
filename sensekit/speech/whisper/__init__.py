"""Whisper: tokenizer, window decoding (greedy, sampling, beam search) and long-form transcription."""
