package torchpt

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// The pickle machine: the opcodes torch.save of a tensor dict emits (protocols 2 to 5),
// each building a plain Go value. Values on the stack are one of:
//
//	nil (None), bool, int64, float64, string, tuple, *dict, *list,
//	global (an unresolved module.name), *storage (a persistent id), *Tensor
//
// MARKs are kept apart, as stack heights. No value is walked recursively, so cycles made through the memo cannot loop.

type (
	tuple  []any
	list   struct{ items []any }
	global struct{ module, name string }
	// dict is a dict or OrderedDict with string keys, in insertion order.
	dict struct {
		keys []string
		vals map[string]any
	}
)

func newDict() *dict { return &dict{vals: map[string]any{}} }

func (d *dict) set(k string, v any) {
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
}

// The globals a tensor dict may name, and what REDUCE makes of each.
const (
	gOrderedDict       = "collections.OrderedDict"
	gRebuildTensor     = "torch._utils._rebuild_tensor_v2"
	gRebuildParam      = "torch._utils._rebuild_parameter"
	gRebuildParamState = "torch._utils._rebuild_parameter_with_state"
)

// storageTypes maps torch's typed storage classes to the dtype of their elements.
var storageTypes = map[string]DType{
	"torch.FloatStorage":    F32,
	"torch.DoubleStorage":   F64,
	"torch.HalfStorage":     F16,
	"torch.BFloat16Storage": BF16,
	"torch.LongStorage":     I64,
	"torch.IntStorage":      I32,
	"torch.ShortStorage":    I16,
	"torch.CharStorage":     I8,
	"torch.ByteStorage":     U8,
	"torch.BoolStorage":     Bool,
}

// opNames names the opcodes in errors, the accepted ones and the usual others.
var opNames = map[byte]string{
	0x80: "PROTO", 0x95: "FRAME", '.': "STOP", '(': "MARK", '}': "EMPTY_DICT", ']': "EMPTY_LIST",
	')': "EMPTY_TUPLE", 't': "TUPLE", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3",
	'a': "APPEND", 'e': "APPENDS", 's': "SETITEM", 'u': "SETITEMS", 'q': "BINPUT",
	'r': "LONG_BINPUT", 0x94: "MEMOIZE", 'h': "BINGET", 'j': "LONG_BINGET", 'J': "BININT",
	'K': "BININT1", 'M': "BININT2", 0x8a: "LONG1", 'N': "NONE", 0x88: "NEWTRUE",
	0x89: "NEWFALSE", 'G': "BINFLOAT", 'X': "BINUNICODE", 0x8c: "SHORT_BINUNICODE",
	0x8d: "BINUNICODE8", 'c': "GLOBAL", 0x93: "STACK_GLOBAL", 'R': "REDUCE", 'b': "BUILD",
	'Q': "BINPERSID", 'P': "PERSID", 'i': "INST", 'o': "OBJ", 0x81: "NEWOBJ",
	0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 'B': "BINBYTES",
	'C': "SHORT_BINBYTES", 0x8e: "BINBYTES8", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER", 'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING",
	'V': "UNICODE", 'p': "PUT", 'g': "GET", 'd': "DICT", 'l': "LIST", '0': "POP",
	'1': "POP_MARK", '2': "DUP", 0x8b: "LONG4", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
}

// machine runs one pickle. storageFor resolves a persistent id's storage (checking it
// against the archive); it is the only way out of the machine.
type machine struct {
	data       []byte
	pos        int
	stack      []any
	marks      []int
	memo       map[uint32]any
	storageFor func(key string, dtype DType, numel int64) (*storage, error)
}

// unpickle runs data to its STOP and returns the value left on the stack.
func unpickle(data []byte, storageFor func(string, DType, int64) (*storage, error)) (any, error) {
	m := &machine{data: data, memo: map[uint32]any{}, storageFor: storageFor}
	for {
		at := m.pos
		op, err := m.byte()
		if err != nil {
			return nil, err
		}
		done, err := m.step(op)
		if err != nil {
			name := opNames[op]
			if name == "" {
				name = "unknown"
			}
			return nil, fmt.Errorf("data.pkl: offset %d: opcode 0x%02x %s: %w", at, op, name, err)
		}
		if done {
			if len(m.stack) != 1 || len(m.marks) != 0 {
				return nil, fmt.Errorf("data.pkl: offset %d: STOP with %d values and %d marks left, want 1 and 0", at, len(m.stack), len(m.marks))
			}
			return m.stack[0], nil
		}
	}
}

func (m *machine) byte() (byte, error) {
	if m.pos >= len(m.data) {
		return 0, fmt.Errorf("data.pkl: ends at offset %d without STOP", m.pos)
	}
	m.pos++
	return m.data[m.pos-1], nil
}

func (m *machine) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(m.data)-m.pos) {
		return nil, fmt.Errorf("argument of %d bytes runs past the end (%d left)", n, len(m.data)-m.pos)
	}
	b := m.data[m.pos : m.pos+int(n)]
	m.pos += int(n)
	return b, nil
}

func (m *machine) uint(n int) (uint64, error) {
	b, err := m.bytes(uint64(n))
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func (m *machine) push(v any) { m.stack = append(m.stack, v) }

// pop removes the top value; a MARK there is an error (it belongs to a later opcode).
func (m *machine) pop() (any, error) {
	n := len(m.stack)
	if n == 0 || (len(m.marks) > 0 && m.marks[len(m.marks)-1] == n) {
		return nil, fmt.Errorf("stack is empty")
	}
	v := m.stack[n-1]
	m.stack = m.stack[:n-1]
	return v, nil
}

// popMark removes and returns the values above the last MARK.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, fmt.Errorf("no MARK")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	vs := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return vs, nil
}

func (m *machine) top() (any, error) {
	n := len(m.stack)
	if n == 0 || (len(m.marks) > 0 && m.marks[len(m.marks)-1] == n) {
		return nil, fmt.Errorf("stack is empty")
	}
	return m.stack[n-1], nil
}

// step runs one opcode; done is true at STOP.
func (m *machine) step(op byte) (done bool, err error) {
	switch op {
	case 0x80: // PROTO
		v, err := m.byte()
		if err != nil {
			return false, err
		}
		if v < 2 || v > 5 {
			return false, fmt.Errorf("protocol %d, want 2 to 5", v)
		}
	case 0x95: // FRAME: a length hint, the frame's bytes follow inline
		if _, err := m.uint(8); err != nil {
			return false, err
		}
	case '.':
		return true, nil
	case '(':
		m.marks = append(m.marks, len(m.stack))
	case '}':
		m.push(newDict())
	case ']':
		m.push(&list{})
	case ')':
		m.push(tuple{})
	case 't':
		vs, err := m.popMark()
		if err != nil {
			return false, err
		}
		m.push(tuple(vs))
	case 0x85, 0x86, 0x87:
		n := int(op - 0x84)
		vs := make(tuple, n)
		for i := n - 1; i >= 0; i-- {
			if vs[i], err = m.pop(); err != nil {
				return false, err
			}
		}
		m.push(vs)
	case 'a':
		v, err := m.pop()
		if err != nil {
			return false, err
		}
		if err := m.appendTo([]any{v}); err != nil {
			return false, err
		}
	case 'e':
		vs, err := m.popMark()
		if err != nil {
			return false, err
		}
		if err := m.appendTo(vs); err != nil {
			return false, err
		}
	case 's':
		v, err := m.pop()
		if err != nil {
			return false, err
		}
		k, err := m.pop()
		if err != nil {
			return false, err
		}
		if err := m.setItems([]any{k, v}); err != nil {
			return false, err
		}
	case 'u':
		vs, err := m.popMark()
		if err != nil {
			return false, err
		}
		if err := m.setItems(vs); err != nil {
			return false, err
		}
	case 'q', 'r', 0x94:
		var idx uint64
		switch op {
		case 'q':
			idx, err = m.uint(1)
		case 'r':
			idx, err = m.uint(4)
		default:
			idx = uint64(len(m.memo))
		}
		if err != nil {
			return false, err
		}
		v, err := m.top()
		if err != nil {
			return false, err
		}
		m.memo[uint32(idx)] = v
	case 'h', 'j':
		n := 1
		if op == 'j' {
			n = 4
		}
		idx, err := m.uint(n)
		if err != nil {
			return false, err
		}
		v, ok := m.memo[uint32(idx)]
		if !ok {
			return false, fmt.Errorf("memo %d was never stored", idx)
		}
		m.push(v)
	case 'J':
		v, err := m.uint(4)
		if err != nil {
			return false, err
		}
		m.push(int64(int32(uint32(v))))
	case 'K':
		v, err := m.uint(1)
		if err != nil {
			return false, err
		}
		m.push(int64(v))
	case 'M':
		v, err := m.uint(2)
		if err != nil {
			return false, err
		}
		m.push(int64(v))
	case 0x8a: // LONG1: n bytes, little-endian two's complement
		n, err := m.byte()
		if err != nil {
			return false, err
		}
		if n > 8 {
			return false, fmt.Errorf("integer of %d bytes does not fit 64 bits", n)
		}
		b, err := m.bytes(uint64(n))
		if err != nil {
			return false, err
		}
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			v |= ^uint64(0) << (8 * n) // sign-extend
		}
		m.push(int64(v))
	case 'N':
		m.push(nil)
	case 0x88:
		m.push(true)
	case 0x89:
		m.push(false)
	case 'G':
		b, err := m.bytes(8)
		if err != nil {
			return false, err
		}
		m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d:
		width := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8}[op]
		n, err := m.uint(width)
		if err != nil {
			return false, err
		}
		b, err := m.bytes(n)
		if err != nil {
			return false, err
		}
		if !utf8.Valid(b) {
			return false, fmt.Errorf("string is not UTF-8")
		}
		m.push(string(b))
	case 'c':
		mod, err := m.line()
		if err != nil {
			return false, err
		}
		name, err := m.line()
		if err != nil {
			return false, err
		}
		g, err := checkGlobal(mod, name)
		if err != nil {
			return false, err
		}
		m.push(g)
	case 0x93: // STACK_GLOBAL
		nv, err := m.pop()
		if err != nil {
			return false, err
		}
		mv, err := m.pop()
		if err != nil {
			return false, err
		}
		mod, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("module and name are %s and %s, want strings", kind(mv), kind(nv))
		}
		g, err := checkGlobal(mod, name)
		if err != nil {
			return false, err
		}
		m.push(g)
	case 'R':
		args, err := m.pop()
		if err != nil {
			return false, err
		}
		fn, err := m.pop()
		if err != nil {
			return false, err
		}
		v, err := reduce(fn, args)
		if err != nil {
			return false, err
		}
		m.push(v)
	case 'b':
		state, err := m.pop()
		if err != nil {
			return false, err
		}
		obj, err := m.top()
		if err != nil {
			return false, err
		}
		// A state_dict's OrderedDict carries its _metadata (module versions) as
		// attributes; they say nothing about the tensors and are dropped.
		if _, ok := obj.(*dict); !ok {
			return false, fmt.Errorf("BUILD on a %s, want a dict", kind(obj))
		}
		if _, ok := state.(*dict); !ok {
			return false, fmt.Errorf("BUILD of a dict with a %s state, want a dict", kind(state))
		}
	case 'Q':
		pid, err := m.pop()
		if err != nil {
			return false, err
		}
		s, err := m.persistent(pid)
		if err != nil {
			return false, err
		}
		m.push(s)
	default:
		return false, fmt.Errorf("%w: torch.save of a tensor dict does not use it", ErrUnsupported)
	}
	return false, nil
}

// line reads a newline-terminated argument of GLOBAL.
func (m *machine) line() (string, error) {
	rest := m.data[m.pos:]
	i := strings.IndexByte(string(rest[:min(len(rest), 256)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("GLOBAL argument without a newline in 256 bytes")
	}
	m.pos += i + 1
	return string(rest[:i]), nil
}

// checkGlobal admits the globals of a tensor dict and nothing else.
func checkGlobal(mod, name string) (global, error) {
	g := global{mod, name}
	full := mod + "." + name
	switch full {
	case gOrderedDict, gRebuildTensor, gRebuildParam, gRebuildParamState:
		return g, nil
	}
	if _, ok := storageTypes[full]; ok {
		return g, nil
	}
	return g, fmt.Errorf("%w: global %.80q is not one torch.save of a tensor dict uses", ErrUnsupported, full)
}

func (g global) String() string { return g.module + "." + g.name }

func (m *machine) appendTo(vs []any) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	l, ok := v.(*list)
	if !ok {
		return fmt.Errorf("APPEND to a %s, want a list", kind(v))
	}
	l.items = append(l.items, vs...)
	return nil
}

func (m *machine) setItems(kv []any) error {
	if len(kv)%2 != 0 {
		return fmt.Errorf("odd number (%d) of keys and values", len(kv))
	}
	v, err := m.top()
	if err != nil {
		return err
	}
	d, ok := v.(*dict)
	if !ok {
		return fmt.Errorf("SETITEM on a %s, want a dict", kind(v))
	}
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return fmt.Errorf("dict key is a %s, want a string", kind(kv[i]))
		}
		d.set(k, kv[i+1])
	}
	return nil
}

// persistent resolves ("storage", torch.XStorage, key, location, numel).
func (m *machine) persistent(pid any) (*storage, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id is a %s, want (\"storage\", type, key, location, numel)", kind(pid))
	}
	g, ok := t[1].(global)
	if !ok {
		return nil, fmt.Errorf("persistent id: storage type is a %s, want a torch storage class", kind(t[1]))
	}
	dtype, ok := storageTypes[g.String()]
	if !ok {
		return nil, fmt.Errorf("persistent id: %s is not a storage class", g)
	}
	key, ok1 := t[2].(string)
	_, ok2 := t[3].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("persistent id: key, location, numel are %s, %s, %s, want two strings and a count", kind(t[2]), kind(t[3]), kind(t[4]))
	}
	return m.storageFor(key, dtype, numel)
}

// reduce applies an admitted global to its arguments: an empty OrderedDict, or a tensor
// rebuilt from a storage and its view.
func reduce(fn, a any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, fmt.Errorf("REDUCE of a %s, want a global", kind(fn))
	}
	args, ok := a.(tuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE of %s with a %s, want a tuple of arguments", g, kind(a))
	}
	switch g.String() {
	case gOrderedDict:
		if len(args) != 0 {
			return nil, fmt.Errorf("%s with %d arguments, want none", g, len(args))
		}
		return newDict(), nil
	case gRebuildTensor:
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("%s with %d arguments, want 6 or 7", g, len(args))
		}
		s, ok := args[0].(*storage)
		if !ok {
			return nil, fmt.Errorf("%s: storage is a %s", g, kind(args[0]))
		}
		off, ok := args[1].(int64)
		if !ok {
			return nil, fmt.Errorf("%s: storage offset is a %s, want an integer", g, kind(args[1]))
		}
		size, err := ints(args[2])
		if err != nil {
			return nil, fmt.Errorf("%s: size: %w", g, err)
		}
		stride, err := ints(args[3])
		if err != nil {
			return nil, fmt.Errorf("%s: stride: %w", g, err)
		}
		return newTensor(s, off, size, stride)
	case gRebuildParam, gRebuildParamState:
		// (data, requires_grad, backward_hooks[, state]): a Parameter is its data.
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%s with %d arguments, want 3 or 4", g, len(args))
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("%s: data is a %s, want a tensor", g, kind(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: REDUCE of %s", ErrUnsupported, g)
}

// ints reads a tuple of non-negative integers.
func ints(v any) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("a %s, want a tuple of integers", kind(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("item %d is %s, want a non-negative integer", i, describe(x))
		}
		out[i] = n
	}
	return out, nil
}

// kind names a value's type for errors, never walking into it.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case global:
		return "global " + v.(global).String()
	case *storage:
		return "storage"
	case *Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// describe shows a scalar's value, or a container's kind.
func describe(v any) string {
	switch x := v.(type) {
	case int64, float64, bool:
		return fmt.Sprint(x)
	case string:
		return fmt.Sprintf("%.40q", x)
	}
	return "a " + kind(v)
}
