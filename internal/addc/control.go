//go:build linux

package addc

// Stop stops the DC's samba (the fault tests of a DC that is down); the
// run directory stays, and Restart starts samba on it again.
func (d *DC) Stop() { d.stop() }

// Restart stops the DC if it runs and starts it again on the same
// database, waiting until it serves: a DC restarted mid-run.
func (d *DC) Restart() error {
	d.stop()
	return d.launch()
}
