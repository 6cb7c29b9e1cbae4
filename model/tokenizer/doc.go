// Package tokenizer reads a Hugging Face tokenizer.json and turns text into token ids and
// back, giving the same ids as the Hugging Face tokenizers library. It is pure Go, so it
// also runs in the browser compiled to wasm.
//
// Encoding runs the pipeline of the tokenizers library, stage by stage:
//
//	text ─ added tokens ─ normalizer ─ pre-tokenizer ─ BPE model ─ post-processor ─ ids
//
// The stages:
//   - Added tokens (<|begin_of_text|>, <|im_start|>, …) are cut out of the text first, so
//     a special token written in the text is always one id, as Hugging Face does.
//   - The normalizer rewrites each remaining section (NFC, Prepend "▁", Replace …).
//   - The pre-tokenizer cuts a section into pre-tokens (a regex Split, ByteLevel's
//     byte → unicode mapping, Metaspace's "▁" words).
//   - The BPE model turns each pre-token into ids by applying merges, lowest rank first.
//   - The post-processor adds the template's special tokens (Llama 3's BOS) when asked.
//
// Decoding maps ids to token strings and runs the decoder chain (ByteLevel, or
// SentencePiece's Replace, ByteFallback, Fuse, Strip). [Decoder] does the same one id at
// a time and holds back text that is not yet complete UTF-8.
//
// Supported: the BPE model, with merges written either as "a b" strings or as ["a", "b"]
// pairs, ignore_merges, byte_fallback, fuse_unk, continuing_subword_prefix and
// end_of_word_suffix; byte-level (GPT-2, Llama 3, Qwen2/3) and SentencePiece-style
// (Llama 2, Mistral) tokenizers. Anything else in the file (a WordPiece model, a
// BertNormalizer …) makes [Load] fail with an error naming the field and its value.
// Truncation and padding settings are ignored: Encode never truncates or pads.
//
// Sizes: V is the vocabulary size ([Tokenizer.VocabSize]), the number of rows of the
// model's embedding matrix that token ids index.
package tokenizer
