package train

import "math"

// crossEntropyForward writes probs[N,V] = softmax(logits[N,V]) and
// losses[N] = −log probs[n, targets[n]], the latter as logsumexp − logit, in float64, so
// that a probability too small for F still gives a finite loss. A negative target
// gives loss 0 (a row without a target).
func crossEntropyForward[E Float](losses, probs, logits []E, targets []int, N, V int) {
	for n := range N {
		z, p := logits[n*V:n*V+V], probs[n*V:n*V+V]
		maxv := float64(z[0])
		for _, v := range z {
			maxv = max(maxv, float64(v))
		}
		var sum float64
		for i, v := range z {
			e := math.Exp(float64(v) - maxv)
			p[i] = E(e)
			sum += e
		}
		inv := 1 / sum
		for i := range p {
			p[i] = E(float64(p[i]) * inv)
		}
		losses[n] = 0
		if t := targets[n]; t >= 0 {
			losses[n] = E(maxv + math.Log(sum) - float64(z[t]))
		}
	}
}

// crossEntropyBackward writes dlogits[N,V], the gradient of Σ dlosses[n]·losses[n]:
// dlogits = (probs − onehot(target))·dlosses, from the forward's probs[N,V]. Rows with
// dlosses 0 (or no target) get 0.
func crossEntropyBackward[E Float](dlogits, probs []E, targets []int, dlosses []E, N, V int) {
	for n := range N {
		dz, p := dlogits[n*V:n*V+V], probs[n*V:n*V+V]
		d := dlosses[n]
		if d == 0 || targets[n] < 0 {
			clear(dz)
			continue
		}
		for i, v := range p {
			dz[i] = v * d
		}
		dz[targets[n]] -= d
	}
}
