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
// (Llama 2, Mistral) tokenizers. Normalizers NFC, NFD, NFKC, NFKD, Lowercase, Strip,
// Prepend, Replace, Sequence; pre-tokenizers Split, ByteLevel, Metaspace, Digits,
// WhitespaceSplit, Sequence; post-processors TemplateProcessing, ByteLevel,
// BertProcessing, RobertaProcessing, Sequence; decoders ByteLevel, ByteFallback, Fuse,
// Strip, Replace, Metaspace, Sequence. Anything else in the file (a WordPiece model, a
// BertNormalizer …) makes [Load] fail with an error naming the field and its value.
//
// Where this package knowingly differs from the tokenizers library: truncation and
// padding settings are ignored (Encode never truncates or pads); a model.unk_token that
// is not in the vocabulary drops unknown characters instead of failing; Lowercase uses
// Go's one-to-one case mapping; BPE dropout is refused; the contractions of the Llama 3
// and Qwen regexes fold ASCII case only, as regexp2 and tokenizers.js do (Oniguruma also
// takes "'ſ" for "'s").
//
// Split regexes are run by github.com/dlclark/regexp2, which has the lookaheads the
// Llama 3 and Qwen patterns need; those two patterns and GPT-2's are matched by hand,
// with regexp2 as the reference they are tested against.
//
// Sizes: V is the vocabulary size ([Tokenizer.VocabSize]), the number of rows of the
// model's embedding matrix that token ids index.
package tokenizer
