package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decoder decodes ids one at a time, for printing tokens as a model samples them. Add
// returns only text that is complete: a character whose UTF-8 bytes are spread over
// several byte-level or <0xNN> tokens comes out whole once its last byte arrives.
// Joined, the outputs of Add and Flush are Decode of all the ids. (One exception: when
// ids spell bytes that are not UTF-8 with SentencePiece's <0xNN> tokens, Decode turns
// the whole run of them into U+FFFDs, even the part Add has already returned.)
//
// It works as the tokenizers library's DecodeStream: it decodes a short window of
// recent ids and returns what the newest ones added to the window's text. A Decoder is
// not safe for concurrent use; its Tokenizer may be shared.
type Decoder struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int  // the window: ids already returned, for context, then pending ones
	prefix      string // Decode of the window's returned ids
	prefixLen   int    // how many of the window's ids prefix covers
}

// NewDecoder returns a streaming decoder; skipSpecial is as for Decode.
func (t *Tokenizer) NewDecoder(skipSpecial bool) *Decoder {
	return &Decoder{t: t, skipSpecial: skipSpecial}
}

// Add takes the next id and returns the text that is now complete, possibly "".
func (d *Decoder) Add(id int) string {
	d.ids = append(d.ids, id)
	text := d.t.Decode(d.ids, d.skipSpecial)
	if len(text) <= len(d.prefix) || strings.HasSuffix(text, "\uFFFD") {
		return "" // nothing new yet, or a character not yet complete
	}
	out := text[commonPrefix(text, d.prefix):]
	// Keep the ids just returned as the next window's context: decoders look at their
	// neighbours (Strip drops the first space of the text, ByteFallback joins byte runs).
	d.ids = d.ids[d.prefixLen:]
	d.prefixLen = len(d.ids)
	d.prefix = d.t.Decode(d.ids, d.skipSpecial)
	return out
}

// Flush returns the text of the ids that Add held back, with U+FFFD for an incomplete
// character, and starts over as for a new text.
func (d *Decoder) Flush() string {
	text := d.t.Decode(d.ids, d.skipSpecial)
	out := text[commonPrefix(text, d.prefix):]
	d.ids, d.prefix, d.prefixLen = d.ids[:0], "", 0
	return out
}

// commonPrefix is the length of the longest common prefix of text and prefix that ends
// on a character boundary of text: normally all of prefix. It is shorter only when new
// ids changed text already returned (an invalid <0xNN> run); Add then returns the
// changed part again rather than lose it.
func commonPrefix(text, prefix string) int {
	if strings.HasPrefix(text, prefix) {
		return len(prefix)
	}
	n := 0
	for n < len(text) && n < len(prefix) && text[n] == prefix[n] {
		n++
	}
	for n > 0 && n < len(text) && !utf8.RuneStart(text[n]) {
		n--
	}
	return n
}
