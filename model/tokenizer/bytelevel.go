package tokenizer

import (
	"encoding/json"
	"strings"
)

// GPT-2's byte-level alphabet: every byte is written as a printable character, so a
// byte-level vocabulary spells " world" as "Ġworld". The bytes '!'..'~', '¡'..'¬' and
// '®'..'ÿ' stand for themselves; the other 68 take U+0100, U+0101, … in byte order.
var byteChar, charByte = byteLevelAlphabet()

// byteLevelAlphabet returns byte → character and character → byte (-1 for none); all
// the characters are below U+0144.
func byteLevelAlphabet() (byteChar [256]string, charByte [324]int16) {
	for i := range charByte {
		charByte[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		c := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			c = rune(256 + n)
			n++
		}
		byteChar[b] = string(c)
		charByte[c] = int16(b)
	}
	return byteChar, charByte
}

// writeByteLevel writes each byte of s as its byte-level character.
func writeByteLevel(sb *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteChar[s[i]])
	}
}

// byteLevelDecode appends the bytes that token's characters stand for to dst. A token
// with a character outside the alphabet (an added token such as "<|im_start|>" is fine,
// one with a space is not) is appended as it is, as the tokenizers library does.
func byteLevelDecode(dst []byte, token string) []byte {
	n := len(dst)
	for _, c := range token {
		if c >= rune(len(charByte)) || charByte[c] < 0 {
			return append(dst[:n], token...)
		}
		dst = append(dst, byte(charByte[c]))
	}
	return dst
}

// ByteLevelJSON returns a Hugging Face tokenizer.json for a byte-level BPE without
// merges: ids 0–255 are the bytes, then the special tokens in order. Random and small
// trained models of this project use it: nothing is unknown, and a tiny model need not
// learn a large vocabulary.
func ByteLevelJSON(special []string) []byte {
	vocab := map[string]int{}
	for b, s := range byteChar {
		vocab[s] = b
	}
	added := []map[string]any{}
	for i, content := range special {
		vocab[content] = 256 + i
		added = append(added, map[string]any{"id": 256 + i, "content": content, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false, "special": true})
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	tok := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil,
			"continuing_subword_prefix": nil, "end_of_word_suffix": nil, "fuse_unk": false,
			"byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": []string{}},
	}
	data, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return data
}
