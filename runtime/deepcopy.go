package runtime

// DeepCopyInto copies c into out. It is written by hand: deepcopy-gen does
// not know time.Time, and Container holds nothing else that needs care.
func (c *Container) DeepCopyInto(out *Container) {
	*out = *c
	if c.Labels != nil {
		out.Labels = make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			out.Labels[k] = v
		}
	}
	if c.Ports != nil {
		out.Ports = append([]PortBinding(nil), c.Ports...)
	}
}
