package redistest

import "testing"

func TestServerLifecycle(t *testing.T) {
	s := New(t, Options{})
	if err := ping("unix", s.Socket); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := ping("tcp", s.Addr()); err == nil {
		t.Fatal("stopped server answers")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := ping("tcp", s.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := ping("unix", s.Socket); err == nil {
		t.Fatal("paused server answers")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := ping("unix", s.Socket); err != nil {
		t.Fatal(err)
	}
}
