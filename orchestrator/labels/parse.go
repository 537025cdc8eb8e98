package labels

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokEnd tokKind = iota
	tokIdent
	tokComma
	tokOpen
	tokClose
	tokEq  // = or ==
	tokNeq // !=
	tokNot // !
	tokGt  // >
	tokLt  // <
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func isSpecial(c byte) bool {
	return strings.IndexByte(" \t\n\r,=!()<>", c) >= 0
}

func lex(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", i})
			i++
		case c == '(':
			toks = append(toks, token{tokOpen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokClose, ")", i})
			i++
		case c == '>':
			toks = append(toks, token{tokGt, ">", i})
			i++
		case c == '<':
			toks = append(toks, token{tokLt, "<", i})
			i++
		case c == '=':
			n := 1
			if i+1 < len(s) && s[i+1] == '=' {
				n = 2
			}
			toks = append(toks, token{tokEq, s[i : i+n], i})
			i += n
		case c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{tokNeq, "!=", i})
				i += 2
			} else {
				toks = append(toks, token{tokNot, "!", i})
				i++
			}
		default:
			j := i
			for j < len(s) && !isSpecial(s[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j], i})
			i = j
		}
	}
	return append(toks, token{tokEnd, "", len(s)})
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEnd {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return fmt.Errorf("labels: parse %q at offset %d: %s", p.src, t.pos, fmt.Sprintf(format, args...))
}

// Parse parses a selector in kubectl's `-l` syntax: comma-separated requirements, each one of
// "k=v", "k==v", "k!=v", "k in (v1,v2)", "k notin (v1,v2)", "k" (exists), "!k" (does not
// exist), "k>n" or "k<n". The empty string selects everything.
func Parse(s string) (Selector, error) {
	p := &parser{src: s, toks: lex(s)}
	if p.peek().kind == tokEnd {
		return Everything(), nil
	}
	var reqs []Requirement
	for {
		r, err := p.requirement()
		if err != nil {
			return Selector{}, err
		}
		reqs = append(reqs, r)
		switch t := p.next(); t.kind {
		case tokEnd:
			return NewSelector(reqs...), nil
		case tokComma:
		default:
			return Selector{}, p.errorf(t, "expected ',' or end, found %q", t.text)
		}
	}
}

func (p *parser) requirement() (Requirement, error) {
	t := p.next()
	if t.kind == tokNot {
		k := p.next()
		if k.kind != tokIdent {
			return Requirement{}, p.errorf(k, "expected a key after '!'")
		}
		return p.wrap(NewRequirement(k.text, DoesNotExist, nil))
	}
	if t.kind != tokIdent {
		return Requirement{}, p.errorf(t, "expected a key, found %q", t.text)
	}
	key := t.text
	op := p.peek()
	switch op.kind {
	case tokEnd, tokComma:
		return p.wrap(NewRequirement(key, Exists, nil))
	case tokEq, tokNeq:
		p.next()
		v := ""
		if p.peek().kind == tokIdent {
			v = p.next().text
		}
		o := Equals
		if op.kind == tokNeq {
			o = NotEquals
		}
		return p.wrap(NewRequirement(key, o, []string{v}))
	case tokGt, tokLt:
		p.next()
		v := p.next()
		if v.kind != tokIdent {
			return Requirement{}, p.errorf(v, "expected an integer after %q", op.text)
		}
		o := GreaterThan
		if op.kind == tokLt {
			o = LessThan
		}
		return p.wrap(NewRequirement(key, o, []string{v.text}))
	case tokIdent:
		p.next()
		var o Operator
		switch op.text {
		case "in":
			o = In
		case "notin":
			o = NotIn
		default:
			return Requirement{}, p.errorf(op, "expected an operator, found %q", op.text)
		}
		values, err := p.values()
		if err != nil {
			return Requirement{}, err
		}
		return p.wrap(NewRequirement(key, o, values))
	}
	return Requirement{}, p.errorf(op, "expected an operator, found %q", op.text)
}

func (p *parser) values() ([]string, error) {
	if t := p.next(); t.kind != tokOpen {
		return nil, p.errorf(t, "expected '(', found %q", t.text)
	}
	var vs []string
	for {
		t := p.next()
		switch t.kind {
		case tokIdent:
			vs = append(vs, t.text)
			switch sep := p.next(); sep.kind {
			case tokComma:
			case tokClose:
				return vs, nil
			default:
				return nil, p.errorf(sep, "expected ',' or ')', found %q", sep.text)
			}
		case tokClose:
			if len(vs) == 0 {
				return nil, nil
			}
			return nil, p.errorf(t, "expected a value, found ')'")
		default:
			return nil, p.errorf(t, "expected a value, found %q", t.text)
		}
	}
}

func (p *parser) wrap(r Requirement, err error) (Requirement, error) {
	if err != nil {
		return Requirement{}, fmt.Errorf("labels: parse %q: %w", p.src, err)
	}
	return r, nil
}
