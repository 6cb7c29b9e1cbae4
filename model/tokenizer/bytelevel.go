package tokenizer

import "strings"

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
