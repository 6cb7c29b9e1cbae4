package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// streamDecode feeds ids to a Decoder one at a time and returns each Add's output
// and Flush's.
func streamDecode(tok *Tokenizer, ids []int, skipSpecial bool) (adds []string, flush string) {
	d := tok.NewDecoder(skipSpecial)
	for _, id := range ids {
		adds = append(adds, d.Add(id))
	}
	return adds, d.Flush()
}

// checkStream checks that the streamed text is Decode's and that, for text that is
// valid UTF-8 without U+FFFD, no Add returns a U+FFFD. It returns how many Adds of
// ordinary tokens held text back (returned "").
func checkStream(t *testing.T, tok *Tokenizer, ids []int, skipSpecial bool, name string) (held int) {
	t.Helper()
	want := tok.Decode(ids, skipSpecial)
	adds, flush := streamDecode(tok, ids, skipSpecial)
	if got := strings.Join(adds, "") + flush; got != want {
		t.Errorf("%s: streamed %q, want Decode's %q", name, got, want)
	}
	clean := utf8.ValidString(want) && !strings.ContainsRune(want, utf8.RuneError)
	for i, a := range adds {
		if clean && strings.ContainsRune(a, utf8.RuneError) {
			t.Errorf("%s: Add(%d) = %q, a partial character", name, ids[i], a)
		}
		if a == "" && !tok.Special(ids[i]) {
			held++
		}
	}
	return held
}

func TestDecoderStreamFixtures(t *testing.T) {
	for _, model := range fixtureModels {
		t.Run(model, func(t *testing.T) {
			tok := loadFixture(t, model)
			held := 0
			for _, l := range readCorpus(t, model) {
				for _, skip := range []bool{false, true} {
					held += checkStream(t, tok, l.IDsWithSpecial, skip, l.Text)
				}
			}
			// Emoji and CJK characters are split over byte-level tokens; Add must
			// have held those back at least somewhere in the corpus.
			if held == 0 {
				t.Error("no Add ever held text back: partial characters were not exercised")
			}
		})
	}
}

func TestDecoderStreamSentencePiece(t *testing.T) {
	for _, layout := range []spOptions{llama2Layout, metaspaceLayout} {
		tok := loadSP(t, layout)
		for _, text := range []string{"hi 🙂 hello", "hello  world é ü", " hello", "🙂🙂", "<s>hello</s> world"} {
			ids := tok.Encode(text, true)
			for _, skip := range []bool{false, true} {
				checkStream(t, tok, ids, skip, text)
			}
		}
	}

	// 🙂 is four byte-fallback tokens: the first three Adds return nothing.
	tok := loadSP(t, llama2Layout)
	ids := tok.Encode("hi 🙂", false)
	adds, flush := streamDecode(tok, ids, false)
	want := []string{"h", "i", " ", "", "", "", "🙂"}
	if strings.Join(adds, "|") != strings.Join(want, "|") || flush != "" {
		t.Errorf("Adds %q, Flush %q; want %q, \"\"", adds, flush, want)
	}
}

// TestDecoderFlush checks that Flush returns an incomplete character as U+FFFD, as
// Decode does.
func TestDecoderFlush(t *testing.T) {
	tok := loadSP(t, llama2Layout)
	d := tok.NewDecoder(false)
	out := d.Add(271) + d.Add(3+0xF0) + d.Add(3+0x9F) // "▁hello" and half of 🙂
	if out != "hello" {
		t.Errorf("Adds = %q, want %q", out, "hello")
	}
	if got, want := d.Flush(), "\uFFFD\uFFFD"; got != want {
		t.Errorf("Flush = %q, want %q", got, want)
	}
	if got := d.Flush(); got != "" {
		t.Errorf("second Flush = %q, want \"\"", got)
	}
}

// TestDecoderInvalidBytes streams a <0xNN> run that is not UTF-8: Decode makes the whole
// run U+FFFDs, including the "\n" already returned, and the stream must go on.
func TestDecoderInvalidBytes(t *testing.T) {
	tok := loadSP(t, llama2Layout)
	ids := []int{3 + '\n', 3 + 0xE2, 271, 276} // <0x0A> <0xE2> ▁hello ▁world
	adds, flush := streamDecode(tok, ids, false)
	want := []string{"\n", "", "\uFFFD\uFFFD hello", " world"}
	if strings.Join(adds, "|") != strings.Join(want, "|") || flush != "" {
		t.Errorf("Adds %q, Flush %q; want %q, \"\"", adds, flush, want)
	}
	if got, want := tok.Decode(ids, false), "\uFFFD\uFFFD hello world"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
}
