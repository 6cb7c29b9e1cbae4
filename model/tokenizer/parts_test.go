package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

func pieceTexts(pieces []piece) []string {
	var out []string
	for _, p := range pieces {
		out = append(out, p.text)
	}
	return out
}

// TestSplitBehaviors uses the cases of the tokenizers library's normalizer tests.
func TestSplitBehaviors(t *testing.T) {
	const s = "The-final--countdown"
	for _, c := range []struct {
		behavior splitBehavior
		invert   bool
		want     []string
	}{
		{removed, false, []string{"The", "final", "countdown"}},
		{isolated, false, []string{"The", "-", "final", "-", "-", "countdown"}},
		{mergedWithPrevious, false, []string{"The-", "final-", "-", "countdown"}},
		{mergedWithNext, false, []string{"The", "-final", "-", "-countdown"}},
		{contiguous, false, []string{"The", "-", "final", "--", "countdown"}},
		{removed, true, []string{"-", "-", "-"}},
	} {
		sp := &splitPre{pat: literal("-"), behavior: c.behavior, invert: c.invert}
		if got := pieceTexts(sp.preTokenize([]piece{{text: s}})); !slices.Equal(got, c.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", c.behavior, c.invert, got, c.want)
		}
	}
}

func TestRegexSplit(t *testing.T) {
	// Llama 3's pattern: contractions case-insensitively, at most three digits, and a
	// whitespace run that leaves its last space to the word after it.
	re, err := compileRegex(llama3Regex)
	if err != nil {
		t.Fatal(err)
	}
	sp := &splitPre{pat: re, behavior: isolated}
	for _, c := range []struct {
		text string
		want []string
	}{
		{"I'LL see   you 12345", []string{"I", "'LL", " see", "  ", " you", " ", "123", "45"}},
		{"naïve 日本語\n\nx", []string{"naïve", " 日本語", "\n\n", "x"}},
		{"a  ", []string{"a", "  "}},
	} {
		if got := pieceTexts(sp.preTokenize([]piece{{text: c.text}})); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.text, got, c.want)
		}
	}
}

// TestMetaspacePre uses the cases of the tokenizers library's Metaspace tests.
func TestMetaspacePre(t *testing.T) {
	always := &metaspacePre{replacement: "▁", prepend: prependAlways, split: true}
	for _, c := range []struct {
		text string
		want []string
	}{
		{"Hey friend!", []string{"▁Hey", "▁friend!"}},
		{"Hey   friend!", []string{"▁Hey", "▁", "▁", "▁friend!"}},
	} {
		if got := pieceTexts(always.preTokenize([]piece{{text: c.text, first: true}})); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.text, got, c.want)
		}
	}
	// prepend_scheme "first" puts ▁ only before the piece that starts the text; " Hey "
	// already starts with one.
	first := &metaspacePre{replacement: "▁", prepend: prependFirst}
	got := pieceTexts(first.preTokenize([]piece{{text: " Hey ", first: true}, {text: "how"}}))
	if want := []string{"▁Hey▁", "how"}; !slices.Equal(got, want) {
		t.Errorf("first: %q, want %q", got, want)
	}
	got = pieceTexts(first.preTokenize([]piece{{text: "Hey", first: true}}))
	if want := []string{"▁Hey"}; !slices.Equal(got, want) {
		t.Errorf("first: %q, want %q", got, want)
	}
}

func TestDigitsPre(t *testing.T) {
	for _, c := range []struct {
		individual bool
		want       []string
	}{
		{true, []string{"Hey ", "1", "2", "3", " friend!"}},
		{false, []string{"Hey ", "123", " friend!"}},
	} {
		got := pieceTexts(digitsPre{c.individual}.preTokenize([]piece{{text: "Hey 123 friend!"}}))
		if !slices.Equal(got, c.want) {
			t.Errorf("individual %v: %q, want %q", c.individual, got, c.want)
		}
	}
}

func TestByteLevelAlphabet(t *testing.T) {
	seen := map[string]bool{}
	for b := 0; b < 256; b++ {
		c := byteChar[b]
		if seen[c] {
			t.Fatalf("byte %#x: character %q used twice", b, c)
		}
		seen[c] = true
		if got := byteLevelDecode(nil, c); len(got) != 1 || got[0] != byte(b) {
			t.Errorf("byte %#x → %q → %v", b, c, got)
		}
	}
	for b, want := range map[byte]string{' ': "Ġ", '\n': "Ċ", 'a': "a", 0xAD: "Ń", 0xFF: "ÿ", 0x7F: "ġ"} {
		if byteChar[b] != want {
			t.Errorf("byte %#x → %q, want %q", b, byteChar[b], want)
		}
	}
	var sb strings.Builder
	if writeByteLevel(&sb, "é 🙂"); sb.String() != "Ã©ĠðŁĻĤ" {
		t.Errorf("writeByteLevel = %q", sb.String())
	}
	// A token with a character outside the alphabet is kept as it is.
	if got := string(byteLevelDecode([]byte("x"), "<a b>")); got != "x<a b>" {
		t.Errorf("byteLevelDecode = %q", got)
	}
}

func TestLossyUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain é 🙂", "plain é 🙂"},
		{"a\xF0\x9F\x99b", "a\uFFFDb"},                   // a 4-byte character cut short: one U+FFFD
		{"\xFF\xFE", "\uFFFD\uFFFD"},                     // bytes that start nothing: one each
		{"\xE0\x80\x80", "\uFFFD\uFFFD\uFFFD"},           // overlong: E0 needs A0..BF next
		{"\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"},           // a surrogate
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // above U+10FFFF
		{"x\xC3", "x\uFFFD"},
		{"\xE2\x82", "\uFFFD"},
		{"\uFFFD", "\uFFFD"},
	} {
		if got := lossyUTF8([]byte(c.in)); got != c.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAddedTokenFlags(t *testing.T) {
	a := newAddedVocab([]addedToken{
		{ID: 10, Content: "<m>", LStrip: true},
		{ID: 11, Content: "<r>", RStrip: true},
		{ID: 12, Content: "ab", SingleWord: true},
		{ID: 13, Content: "<a>"},
		{ID: 14, Content: "<a><b>"},
		{ID: 15, Content: "N", Normalized: true},
	}, nil)
	for _, c := range []struct {
		text string
		want []section
	}{
		// lstrip: the token takes the whitespace before it.
		{"x <m> y", []section{{"x", 0, -1}, {" <m>", 1, 10}, {" y", 5, -1}}},
		// rstrip: the token takes the whitespace after it.
		{"x<r>  y", []section{{"x", 0, -1}, {"<r>  ", 1, 11}, {"y", 6, -1}}},
		// single_word: not inside a word.
		{"ab cab ab", []section{{"ab", 0, 12}, {" cab ", 2, -1}, {"ab", 7, 12}}},
		// leftmost-longest.
		{"<a><b><a>", []section{{"<a><b>", 0, 14}, {"<a>", 6, 13}}},
		// tokens with normalized=true are not matched in the raw text.
		{"N", []section{{"N", 0, -1}}},
	} {
		if got := a.split(c.text, false); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if got, want := a.split("xNx", true), []section{{"x", 0, -1}, {"N", 1, 15}, {"x", 2, -1}}; !slices.Equal(got, want) {
		t.Errorf("split normalized = %v, want %v", got, want)
	}
}

func TestJSONStrings(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"\u00e9\ud83d\ude42\n\t\"\\\/\b\f\r"`, "é🙂\n\t\"\\/\b\f\r"},
		{`"\ud800x"`, "\uFFFDx"}, // a lone surrogate
		{`"ü raw"`, "ü raw"},
	} {
		r := &jsonReader{b: []byte(c.in)}
		got, err := r.str()
		if err != nil || string(got) != c.want {
			t.Errorf("str(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`"open`, `"bad \q"`, "\"ctl\x01\"", `"\u12"`} {
		r := &jsonReader{b: []byte(bad)}
		if got, err := r.str(); err == nil {
			t.Errorf("str(%q) = %q, want an error", bad, got)
		}
	}
}

// TestEncodeInvalidUTF8 reads invalid bytes as U+FFFD.
func TestEncodeInvalidUTF8(t *testing.T) {
	tok := loadSP(t, llama2Layout)
	if got, want := tok.Encode("hi\xffhello", false), tok.Encode("hi\uFFFDhello", false); !slices.Equal(got, want) {
		t.Errorf("Encode(invalid) = %v, want %v", got, want)
	}
}

// TestConcurrentEncode shares one Tokenizer (and its BPE cache) between goroutines;
// run with -race.
func TestConcurrentEncode(t *testing.T) {
	tok := loadSP(t, llama2Layout)
	texts := []string{"hello world", "hi 🙂", "é ü hello", strings.Repeat("hello ", 50)}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, true)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200; n++ {
				i := (g + n) % len(texts)
				if got := tok.Encode(texts[i], true); !slices.Equal(got, want[i]) {
					t.Errorf("goroutine %d: Encode(%q) = %v, want %v", g, texts[i], got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
