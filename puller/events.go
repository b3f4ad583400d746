package puller

import (
	"crypto/sha256"
	"encoding/hex"
)

// maxActionLen is the API server's limit on an Event's action.
const maxActionLen = 128

// eventAction names the image in the Event's action. The events library
// merges Events that share regarding object, reason and action into one
// series and keeps only the first note, so without the image in the action
// the second image added within minutes would never be reported.
func eventAction(verb, subject string) string {
	a := verb + " " + subject
	if len(a) <= maxActionLen {
		return a
	}
	sum := sha256.Sum256([]byte(a))
	return a[:maxActionLen-9] + "~" + hex.EncodeToString(sum[:4])
}
