package inventory

import (
	"fmt"
	"sync"
	"testing"

	it "prepuller.dev/prepuller/pkg/inventory/inventorytest"
)

// Readers (the webhook) and writers (informer handlers) at once; run with
// -race. The final state must be what the last writes say.
func TestConcurrentReadsAndWrites(t *testing.T) {
	inv := New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := inv.Presence(scipy, 5, 7)
				if p.Holding > p.Eligible {
					t.Errorf("holding %d > eligible %d", p.Holding, p.Eligible)
					return
				}
				inv.SizeOf(scipy)
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for round := range 200 {
				for i := range 10 {
					name := fmt.Sprintf("w%d-n%d", w, i)
					n := it.MakeNode(name)
					if (round+i)%2 == 0 {
						n.Image(1, scipy)
					}
					inv.UpsertNode(n.Obj())
					if round%7 == 0 {
						inv.DeleteNode(name)
					}
				}
			}
			for i := range 10 {
				inv.UpsertNode(it.MakeNode(fmt.Sprintf("w%d-n%d", w, i)).Image(1, scipy).Obj())
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if got := inv.HolderCount(scipy); got != 20 {
		t.Errorf("HolderCount = %d after every node ends holding it, want 20", got)
	}
	if got := inv.EligibleNodes(); got != 20 {
		t.Errorf("EligibleNodes = %d, want 20", got)
	}
}
