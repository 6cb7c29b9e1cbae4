package train

import "fmt"

// Forward runs a batch through the model and returns its loss, keeping every activation
// Backward needs. inputs[N] are token ids, row n = b*T + t is token t of sequence b;
// targets[N] the token each row should predict (negative: none), nil to only compute
// logits (see Logits, BackwardFrom); mask[N] weighs each row's cross-entropy, nil for 1.
// The loss is Σ mask·CE / (number of rows with a target and a mask ≠ 0): with a 0/1
// mask, the mean cross-entropy over the masked rows (e.g. answer tokens); with a
// reward as the mask, the REINFORCE surrogate −Σ r·log π over the answer tokens.
func (m *Model[E]) Forward(inputs, targets []int, mask []E) (float64, error) {
	c, d := m.Config, dimsOf(m.Config)
	B, T, N := m.B, m.T, m.B*m.T
	if len(inputs) != N || (targets != nil && len(targets) != N) || (mask != nil && len(mask) != N) {
		return 0, fmt.Errorf("train: batch of %d inputs, %d targets, %d mask, want %d (B=%d × T=%d) each",
			len(inputs), len(targets), len(mask), N, B, T)
	}
	for n, tok := range inputs {
		if tok < 0 || tok >= d.V {
			return 0, fmt.Errorf("train: input %d (sequence %d, position %d) is token %d, outside [0, %d)", n, n/T, n%T, tok, d.V)
		}
	}
	for n, tok := range targets {
		if tok >= d.V {
			return 0, fmt.Errorf("train: target %d (sequence %d, position %d) is token %d, outside [0, %d)", n, n/T, n%T, tok, d.V)
		}
	}
	copy(m.inputs, inputs)
	p, a, k := &m.params, &m.acts, m.k
	L, D, QKV, Q, F := d.L, d.D, d.QKV, d.Q, d.F

	embeddingForward(a.encoded, m.inputs, p.wte, N, D)
	for l := range L {
		residual := a.encoded
		if l > 0 {
			residual = a.residual3[(l-1)*N*D:][:N*D]
		}
		ln1, ln1rstd := a.ln1[l*N*D:][:N*D], a.ln1rstd[l*N:][:N]
		qkv, att, atty := a.qkv[l*N*QKV:][:N*QKV], a.att[l*B*d.H*T*T:][:B*d.H*T*T], a.atty[l*N*Q:][:N*Q]
		residual2, ln2, ln2rstd := a.residual2[l*N*D:][:N*D], a.ln2[l*N*D:][:N*D], a.ln2rstd[l*N:][:N]
		fc, fch, residual3 := a.fc[l*N*2*F:][:N*2*F], a.fch[l*N*F:][:N*F], a.residual3[l*N*D:][:N*D]

		// attention: residual2 = residual + o(attn(rope(q), rope(k), v)), q|k|v = qkv(n(residual))
		k.rmsnormForward(ln1, ln1rstd, residual, p.ln1w[l*D:][:D], N, D, c.RMSNormEps)
		k.matmulForward(qkv, ln1, p.qkvw[l*QKV*D:][:QKV*D], layerSlice(p.qkvb, l, QKV), N, D, QKV)
		ropeForward(qkv, &m.rope, N, T, d.H, d.Hkv, d.Dh)
		k.attentionForward(atty, att, qkv, m.dacts.attScratch, B, T, d.H, d.Hkv, d.Dh, c.SlidingWindow)
		k.matmulForward(a.proj, atty, p.attprojw[l*D*Q:][:D*Q], layerSlice(p.attprojb, l, D), N, Q, D)
		residualForward(residual2, residual, a.proj)
		// MLP: residual3 = residual2 + down(silu(gate) ⊙ up), gate|up = fc(n(residual2))
		k.rmsnormForward(ln2, ln2rstd, residual2, p.ln2w[l*D:][:D], N, D, c.RMSNormEps)
		k.matmulForward(fc, ln2, p.fcw[l*2*F*D:][:2*F*D], nil, N, D, 2*F)
		k.swigluForward(fch, fc, N, F)
		k.matmulForward(a.proj, fch, p.fcprojw[l*D*F:][:D*F], nil, N, F, D)
		residualForward(residual3, residual2, a.proj)
	}
	last := a.encoded
	if L > 0 {
		last = a.residual3[(L-1)*N*D:][:N*D]
	}
	k.rmsnormForward(a.lnf, a.lnfrstd, last, p.lnfw, N, D, c.RMSNormEps)
	k.matmulForward(a.logits, a.lnf, p.lmhead, nil, N, D, d.V)

	m.hasTargets = targets != nil
	if !m.hasTargets {
		return 0, nil
	}
	copy(m.targets, targets)
	crossEntropyForward(a.losses, a.probs, a.logits, m.targets, N, d.V)
	// dlosses: each counted row's weight in the mean, what Backward starts from.
	dl := m.dacts.dlosses
	count := 0
	for n, t := range m.targets {
		dl[n] = 0
		if t >= 0 && (mask == nil || mask[n] != 0) {
			dl[n] = 1
			if mask != nil {
				dl[n] = mask[n]
			}
			count++
		}
	}
	var loss float64
	if count > 0 {
		inv := 1 / E(count)
		for n, w := range dl {
			dl[n] = w * inv
			loss += float64(dl[n]) * float64(a.losses[n])
		}
	}
	return loss, nil
}

// layerSlice returns layer l's [n] part of a per-layer tensor, nil when the tensor is
// absent (a bias the config does not have).
func layerSlice[E Float](x []E, l, n int) []E {
	if x == nil {
		return nil
	}
	return x[l*n:][:n]
}

// residualForward writes out = inp1 + inp2, all [N*D].
func residualForward[E Float](out, inp1, inp2 []E) {
	inp2 = inp2[:len(out)]
	for i := range out {
		out[i] = inp1[i] + inp2[i]
	}
}

// Logits returns the logits [N,V] of the last Forward, a view into the model's memory
// that the next Forward overwrites.
func (m *Model[E]) Logits() []E { return m.acts.logits }

// Probs returns softmax(logits) [N,V] of the last Forward that had targets.
func (m *Model[E]) Probs() []E { return m.acts.probs }

// Losses returns the cross-entropy of each row [N] of the last Forward that had targets
// (0 for rows without a target).
func (m *Model[E]) Losses() []E { return m.acts.losses }

// ZeroGrad sets Grads to zero; Backward adds to them.
func (m *Model[E]) ZeroGrad() { clear(m.Grads) }

// Backward adds to Grads the gradient of the last Forward's loss w.r.t. every weight.
// The Forward must have had targets.
func (m *Model[E]) Backward() {
	if !m.hasTargets {
		panic("train: Backward after a Forward without targets (use BackwardFrom)")
	}
	d := dimsOf(m.Config)
	crossEntropyBackward(m.dacts.dlogits, m.acts.probs, m.targets, m.dacts.dlosses, m.B*m.T, d.V)
	m.BackwardFrom(m.dacts.dlogits)
}

// BackwardFrom adds to Grads the gradient w.r.t. every weight of a loss whose gradient
// w.r.t. the last Forward's logits is dlogits[N,V]: a caller's own loss (REINFORCE with
// a KL term, distillation). After it, InputGrad holds the gradient w.r.t. the embedded
// inputs.
func (m *Model[E]) BackwardFrom(dlogits []E) {
	c, d := m.Config, dimsOf(m.Config)
	B, T, N := m.B, m.T, m.B*m.T
	L, D, QKV, Q, F := d.L, d.D, d.QKV, d.Q, d.F
	if len(dlogits) != N*d.V {
		panic(fmt.Sprintf("train: BackwardFrom: dlogits[%d], want N·V = %d", len(dlogits), N*d.V))
	}
	p, g, a, da, k := &m.params, &m.grads, &m.acts, &m.dacts, m.k

	// lm_head and the final norm
	last := a.encoded
	if L > 0 {
		last = a.residual3[(L-1)*N*D:][:N*D]
	}
	k.matmulBackward(da.dln, g.lmhead, nil, dlogits, a.lnf, p.lmhead, N, D, d.V)
	clear(da.dresidual)
	k.rmsnormBackward(da.dresidual, g.lnfw, da.dln, last, p.lnfw, a.lnfrstd, N, D)

	for l := L - 1; l >= 0; l-- {
		residual := a.encoded
		if l > 0 {
			residual = a.residual3[(l-1)*N*D:][:N*D]
		}
		ln1, ln1rstd := a.ln1[l*N*D:][:N*D], a.ln1rstd[l*N:][:N]
		qkv, att, atty := a.qkv[l*N*QKV:][:N*QKV], a.att[l*B*d.H*T*T:][:B*d.H*T*T], a.atty[l*N*Q:][:N*Q]
		residual2, ln2, ln2rstd := a.residual2[l*N*D:][:N*D], a.ln2[l*N*D:][:N*D], a.ln2rstd[l*N:][:N]
		fc, fch := a.fc[l*N*2*F:][:N*2*F], a.fch[l*N*F:][:N*F]

		// MLP. dresidual is d(residual3), which is also d(residual2) through the skip.
		k.matmulBackward(da.dfch, g.fcprojw[l*D*F:][:D*F], nil, da.dresidual, fch, p.fcprojw[l*D*F:][:D*F], N, F, D)
		k.swigluBackward(da.dfc, da.dfch, fc, N, F)
		k.matmulBackward(da.dln, g.fcw[l*2*F*D:][:2*F*D], nil, da.dfc, ln2, p.fcw[l*2*F*D:][:2*F*D], N, D, 2*F)
		k.rmsnormBackward(da.dresidual, g.ln2w[l*D:][:D], da.dln, residual2, p.ln2w[l*D:][:D], ln2rstd, N, D)
		// attention. dresidual is now d(residual2), also d(residual).
		k.matmulBackward(da.datty, g.attprojw[l*D*Q:][:D*Q], layerSlice(g.attprojb, l, D), da.dresidual, atty, p.attprojw[l*D*Q:][:D*Q], N, Q, D)
		k.attentionBackward(da.dqkv, da.datty, qkv, att, da.attScratch, B, T, d.H, d.Hkv, d.Dh, c.SlidingWindow)
		ropeBackward(da.dqkv, &m.rope, N, T, d.H, d.Hkv, d.Dh)
		k.matmulBackward(da.dln, g.qkvw[l*QKV*D:][:QKV*D], layerSlice(g.qkvb, l, QKV), da.dqkv, ln1, p.qkvw[l*QKV*D:][:QKV*D], N, D, QKV)
		k.rmsnormBackward(da.dresidual, g.ln1w[l*D:][:D], da.dln, residual, p.ln1w[l*D:][:D], ln1rstd, N, D)
	}
	embeddingBackward(g.wte, da.dresidual, m.inputs, N, D)
}

// InputGrad returns the gradient [N,D] of the last backward's loss w.r.t. the embedded
// inputs (the rows of embed_tokens the batch picked), a view the next backward overwrites.
func (m *Model[E]) InputGrad() []E { return m.dacts.dresidual }
