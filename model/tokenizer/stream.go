package tokenizer

import "strings"

// Decoder decodes ids one at a time, for printing tokens as a model samples them. Add
// returns only text that is complete: a character whose UTF-8 bytes are spread over
// several byte-level or <0xNN> tokens comes out whole once its last byte arrives.
// Joined, the outputs of Add and Flush are Decode of all the ids.
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
	if len(text) <= len(d.prefix) || strings.HasSuffix(text, "\uFFFD") || !strings.HasPrefix(text, d.prefix) {
		return "" // nothing new yet, or a character not yet complete
	}
	out := text[len(d.prefix):]
	// Keep the ids just returned as the next window's context: decoders look at their
	// neighbours (Strip drops the first space of the text, ByteFallback joins byte runs).
	d.ids = d.ids[d.prefixLen:]
	d.prefixLen = len(d.ids)
	d.prefix = d.t.Decode(d.ids, d.skipSpecial)
	return out
}

// Flush returns the text of the ids that Add held back, with U+FFFD for an incomplete
// character, and starts over.
func (d *Decoder) Flush() string {
	text := d.t.Decode(d.ids, d.skipSpecial)
	out := ""
	if len(text) > len(d.prefix) && strings.HasPrefix(text, d.prefix) {
		out = text[len(d.prefix):]
	}
	d.ids, d.prefix, d.prefixLen = d.ids[:0], "", 0
	return out
}
