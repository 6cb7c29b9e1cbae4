package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model: a pre-token starts as one symbol per character and adjacent
// pairs are merged, the pair of lowest merge rank first (leftmost on ties), until no
// pair of the merges list is left, as the tokenizers library's BPE::merge_word does.
type bpe struct {
	vocab  map[string]int32 // token → id
	tokens []string         // id → token, "" for ids the vocabulary skips
	merges pairTable        // (left id, right id) → rule

	unk          int32      // id of unk_token, -1 when there is none
	fuseUnk      bool       // consecutive unknown characters become one unk
	byteFallback bool       // an unknown character becomes its UTF-8 bytes' <0xNN> tokens
	ignoreMerges bool       // a pre-token that is itself in the vocabulary is one token
	prefix       string     // continuing_subword_prefix: spells every symbol but the first
	suffix       string     // end_of_word_suffix: spells the last symbol
	byteIDs      [256]int32 // byte → id of "<0xNN>", -1 when missing

	cache bpeCache
}

// mergeRule says that a pair merges, with what priority and into which token.
type mergeRule struct {
	rank int32 // position in the merges list: lower merges first
	id   int32 // the merged token
}

// pairTable maps a pair of ids to its merge rule: an open-addressing hash table with
// linear probing, smaller and faster to build and read than a Go map of 280k merges.
type pairTable struct {
	keys  []uint64 // left<<32 | right, or emptyPair
	rules []mergeRule
	shift uint // 64 - log2(len(keys))
}

const emptyPair = ^uint64(0) // the pair (-1, -1), which no merge has

// maxVocab bounds token ids, far past any released model's vocabulary (Gemma's 262,144):
// the id → token table is as long as the largest id, so a file claiming id 234,567,890
// would make this allocate gigabytes before failing (FuzzLoad found it).
const maxVocab = 1 << 24

func newPairTable(n int) pairTable {
	size, shift := 16, uint(60)
	for size < 2*n {
		size, shift = size*2, shift-1
	}
	t := pairTable{keys: make([]uint64, size), rules: make([]mergeRule, size), shift: shift}
	for i := range t.keys {
		t.keys[i] = emptyPair
	}
	return t
}

func (t *pairTable) slot(key uint64) int {
	mask := len(t.keys) - 1
	i := int((key * 0x9E3779B97F4A7C15) >> t.shift)
	for t.keys[i] != key && t.keys[i] != emptyPair {
		i = (i + 1) & mask
	}
	return i
}

// put sets the rule of a pair; a pair listed twice keeps its last rule, as a HashMap
// collected from the merges list does.
func (t *pairTable) put(left, right int32, rule mergeRule) {
	key := uint64(uint32(left))<<32 | uint64(uint32(right))
	i := t.slot(key)
	t.keys[i], t.rules[i] = key, rule
}

func (t *pairTable) get(left, right int32) (mergeRule, bool) {
	if len(t.keys) == 0 {
		return mergeRule{}, false
	}
	i := t.slot(uint64(uint32(left))<<32 | uint64(uint32(right)))
	return t.rules[i], t.keys[i] != emptyPair
}

// bpeConfig holds model's fields other than vocab and merges.
type bpeConfig struct {
	Type                    string   `json:"type"`
	Dropout                 *float64 `json:"dropout"`
	UnkToken                *string  `json:"unk_token"`
	ContinuingSubwordPrefix *string  `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string  `json:"end_of_word_suffix"`
	FuseUnk                 bool     `json:"fuse_unk"`
	ByteFallback            bool     `json:"byte_fallback"`
	IgnoreMerges            bool     `json:"ignore_merges"`
}

func loadBPE(raw []byte) (*bpe, error) {
	var cfg bpeConfig
	var vocabRaw, mergesRaw []byte
	r := &jsonReader{b: raw}
	err := r.object(func(key []byte) error {
		v, err := r.value()
		if err != nil {
			return err
		}
		switch k := string(key); k {
		case "vocab":
			vocabRaw = v
		case "merges":
			mergesRaw = v
		case "type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
			"fuse_unk", "byte_fallback", "ignore_merges":
			// Decode the field alone: the whole object would be decoded vocab and all.
			if err := json.Unmarshal([]byte(`{"`+k+`":`+string(v)+`}`), &cfg); err != nil {
				return fmt.Errorf("model.%s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if cfg.Type == "" && mergesRaw != nil {
		cfg.Type = "BPE" // files written before model.type existed
	}
	if cfg.Type != "BPE" {
		return nil, fmt.Errorf("model.type %q is not supported (want BPE)", cfg.Type)
	}
	if cfg.Dropout != nil && *cfg.Dropout > 0 {
		return nil, fmt.Errorf("model.dropout %v is not supported (want null or 0)", *cfg.Dropout)
	}
	if vocabRaw == nil {
		return nil, fmt.Errorf("model: no vocab")
	}

	m := &bpe{
		unk:          -1,
		fuseUnk:      cfg.FuseUnk,
		byteFallback: cfg.ByteFallback,
		ignoreMerges: cfg.IgnoreMerges,
	}
	if cfg.ContinuingSubwordPrefix != nil {
		m.prefix = *cfg.ContinuingSubwordPrefix
	}
	if cfg.EndOfWordSuffix != nil {
		m.suffix = *cfg.EndOfWordSuffix
	}
	if m.vocab, m.tokens, err = parseVocab(vocabRaw); err != nil {
		return nil, fmt.Errorf("model.vocab: %w", err)
	}
	if cfg.UnkToken != nil {
		// An unk_token missing from the vocabulary is only an error in the tokenizers
		// library once a character needs it; here such a character is dropped.
		if id, ok := m.vocab[*cfg.UnkToken]; ok {
			m.unk = id
		}
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	if m.merges, err = parseMerges(mergesRaw, m.vocab, len(m.prefix)); err != nil {
		return nil, err
	}
	return m, nil
}

// parseVocab reads model.vocab, an object of token → id. The tokens' text is kept in
// one string, not one allocation each.
func parseVocab(raw []byte) (map[string]int32, []string, error) {
	type entry struct{ start, end, id int32 }
	var (
		arena   = make([]byte, 0, len(raw)/2)
		entries = make([]entry, 0, len(raw)/12)
		maxID   = -1
	)
	r := &jsonReader{b: raw}
	err := r.object(func(key []byte) error {
		start := len(arena)
		arena = append(arena, key...)
		id, err := r.int()
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if id < 0 || id >= maxVocab {
			return fmt.Errorf("%q: id %d out of range [0, %d)", key, id, maxVocab)
		}
		maxID = max(maxID, id)
		entries = append(entries, entry{int32(start), int32(len(arena)), int32(id)})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	text := string(arena)
	vocab := make(map[string]int32, len(entries))
	tokens := make([]string, maxID+1)
	for _, e := range entries {
		tok := text[e.start:e.end]
		vocab[tok] = e.id
		tokens[e.id] = tok
	}
	return vocab, tokens, nil
}

// parseMerges reads model.merges, written as "a b" strings (older files, Llama 3) or
// as ["a", "b"] pairs (tokenizers ≥ 0.20, Qwen3). A pair merges into a followed by b
// without its continuing_subword_prefix (prefixLen bytes).
func parseMerges(raw []byte, vocab map[string]int32, prefixLen int) (pairTable, error) {
	if isNull(raw) {
		return pairTable{}, nil
	}
	type merge struct{ left, right, id int32 }
	list := make([]merge, 0, len(raw)/16)
	var left, merged []byte
	r := &jsonReader{b: raw}
	err := r.array(func(i int) error {
		var right []byte
		switch r.peek() {
		case '"':
			line, err := r.str()
			if err != nil {
				return fmt.Errorf("model.merges[%d]: %w", i, err)
			}
			if bytes.HasPrefix(line, []byte("#version")) {
				return nil
			}
			a, b, ok := bytes.Cut(line, []byte{' '})
			if !ok || bytes.IndexByte(b, ' ') >= 0 {
				return fmt.Errorf("model.merges[%d]: %q is not two tokens split by one space", i, line)
			}
			left, right = append(left[:0], a...), b
		case '[':
			n := 0
			err := r.array(func(j int) error {
				s, err := r.str()
				if j == 0 {
					left = append(left[:0], s...)
				} else {
					right = s
				}
				n++
				return err
			})
			if err != nil {
				return fmt.Errorf("model.merges[%d]: %w", i, err)
			}
			if n != 2 {
				return fmt.Errorf("model.merges[%d]: %d strings, want a pair", i, n)
			}
		default:
			return fmt.Errorf("model.merges[%d]: want a string or a pair of strings", i)
		}
		a, ok := vocab[string(left)]
		if !ok {
			return fmt.Errorf("model.merges[%d]: %q is not in the vocabulary", i, left)
		}
		b, ok := vocab[string(right)]
		if !ok {
			return fmt.Errorf("model.merges[%d]: %q is not in the vocabulary", i, right)
		}
		if len(right) < prefixLen {
			return fmt.Errorf("model.merges[%d]: %q lacks the continuing_subword_prefix", i, right)
		}
		merged = append(append(merged[:0], left...), right[prefixLen:]...)
		id, ok := vocab[string(merged)]
		if !ok {
			return fmt.Errorf("model.merges[%d]: merged token %q is not in the vocabulary", i, merged)
		}
		list = append(list, merge{a, b, id})
		return nil
	})
	if err != nil {
		return pairTable{}, err
	}
	merges := newPairTable(len(list))
	for rank, m := range list {
		merges.put(m.left, m.right, mergeRule{rank: int32(rank), id: m.id})
	}
	return merges, nil
}

// tokenize appends the ids of one pre-token to dst.
func (m *bpe) tokenize(dst []int, word string) []int {
	if word == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, int(id))
		}
	}
	if ids, ok := m.cache.get(word); ok {
		return append(dst, ids...)
	}
	syms := m.merge(m.symbols(word))
	n := len(dst)
	for i := 0; i >= 0 && i < len(syms); i = int(syms[i].next) {
		dst = append(dst, int(syms[i].id))
	}
	m.cache.put(word, dst[n:])
	return dst
}

// symbol is one symbol of a word being merged, in a linked list over the slice.
type symbol struct {
	id         int32 // -1 once merged into the symbol before it
	prev, next int32 // neighbours' indices, -1 at the ends
}

// symbols splits word into its first symbols, one per character, as merge_word does:
// an unknown character becomes <0xNN> byte tokens (byte_fallback), or unk (fused with
// the unknown characters next to it when fuse_unk), or is dropped without unk_token.
func (m *bpe) symbols(word string) []symbol {
	syms := make([]symbol, 0, len(word))
	add := func(id int32) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
	}
	pendingUnk := false
	var buf []byte
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+size]
		first, last := i == 0, i+size == len(word)
		i += size
		if !first && m.prefix != "" || last && m.suffix != "" {
			buf = buf[:0]
			if !first {
				buf = append(buf, m.prefix...)
			}
			buf = append(buf, s...)
			if last {
				buf = append(buf, m.suffix...)
			}
			s = string(buf)
		}
		if id, ok := m.vocab[s]; ok {
			if pendingUnk {
				add(m.unk)
				pendingUnk = false
			}
			add(id)
			continue
		}
		if m.byteFallback && m.hasByteTokens(s) {
			// merge_word adds a pending unk only before a vocabulary character, even
			// when byte tokens come first; so does this.
			for j := 0; j < len(s); j++ {
				add(m.byteIDs[s[j]])
			}
			continue
		}
		if m.unk < 0 {
			continue
		}
		if pendingUnk && !m.fuseUnk {
			add(m.unk)
		}
		pendingUnk = true
	}
	if pendingUnk {
		add(m.unk)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

func (m *bpe) hasByteTokens(s string) bool {
	for i := 0; i < len(s); i++ {
		if m.byteIDs[s[i]] < 0 {
			return false
		}
	}
	return true
}

// merge applies the merges to syms, lowest rank first and leftmost on ties, with a
// priority queue of candidate pairs; stale candidates are skipped when popped.
func (m *bpe) merge(syms []symbol) []symbol {
	q := make(mergeQueue, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		q.pushPair(&m.merges, int32(i), syms[i].id, syms[i+1].id)
	}
	for len(q) > 0 {
		c := q.pop()
		s := &syms[c.pos]
		if s.id != c.left || s.next < 0 || syms[s.next].id != c.right {
			continue
		}
		right := s.next
		s.id = c.id
		s.next = syms[right].next
		syms[right].id = -1
		if s.next >= 0 {
			syms[s.next].prev = c.pos
			q.pushPair(&m.merges, c.pos, s.id, syms[s.next].id)
		}
		if s.prev >= 0 {
			q.pushPair(&m.merges, s.prev, syms[s.prev].id, s.id)
		}
	}
	return syms
}

// candidate is a pair that may merge: the symbol at pos (left) and the one after it.
type candidate struct {
	rank, pos   int32
	left, right int32 // the pair's ids when it was queued
	id          int32 // what it merges into
}

// mergeQueue is a binary min-heap of candidates by (rank, pos).
type mergeQueue []candidate

func (q *mergeQueue) pushPair(merges *pairTable, pos, left, right int32) {
	rule, ok := merges.get(left, right)
	if !ok {
		return
	}
	*q = append(*q, candidate{rank: rule.rank, pos: pos, left: left, right: right, id: rule.id})
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].before(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *mergeQueue) pop() candidate {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && h[l].before(h[least]) {
			least = l
		}
		if r < n && h[r].before(h[least]) {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	*q = h
	return top
}

func (c candidate) before(d candidate) bool {
	return c.rank < d.rank || c.rank == d.rank && c.pos < d.pos
}

// bpeCache remembers the ids of recent pre-tokens. It belongs to one Tokenizer and
// has its own lock, so a Tokenizer can be shared between goroutines.
type bpeCache struct {
	mu sync.Mutex
	m  map[string][]int
}

const (
	cacheEntries = 1 << 14 // the cache is emptied when it reaches this many words
	cacheMaxWord = 256     // longer pre-tokens are not cached
)

func (c *bpeCache) get(word string) ([]int, bool) {
	if len(word) > cacheMaxWord {
		return nil, false
	}
	c.mu.Lock()
	ids, ok := c.m[word]
	c.mu.Unlock()
	return ids, ok
}

func (c *bpeCache) put(word string, ids []int) {
	if len(word) > cacheMaxWord {
		return
	}
	ids = append([]int(nil), ids...)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cacheEntries {
		c.m = make(map[string][]int)
	}
	c.m[word] = ids
	c.mu.Unlock()
}
