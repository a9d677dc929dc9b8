package memconnector

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// StoredMessage is a message as the connector holds it.
type StoredMessage struct {
	UID          uint32
	Data         []byte
	InternalDate time.Time
	Flags        []string
}

// Seed stores a message in a user's folder (creating both), as mail
// delivery would, and returns its UID.
func (c *Connector) Seed(user, folderName string, data []byte, date time.Time, flags ...string) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.boxLocked(user)
	f, _ := c.ensureLocked(b, folderName, "")
	f.modSeq++
	m := &message{uid: f.uidNext, data: slices.Clone(data), date: date.Truncate(time.Second), flags: slices.Clone(flags), modSeq: f.modSeq}
	f.uidNext++
	f.msgs = append(f.msgs, m)
	return m.uid
}

// SetSpecialUse marks a user's folder with a special-use attribute,
// creating the folder if needed.
func (c *Connector) SetSpecialUse(user, folderName, specialUse string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, _ := c.ensureLocked(c.boxLocked(user), folderName, specialUse)
	f.specialUse = specialUse
}

// SetFlags replaces the flags of a stored message, as a mail client would.
func (c *Connector) SetFlags(user, folderName string, uid uint32, flags ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.boxLocked(user).folders[folderName]
	if !ok {
		return fmt.Errorf("no folder %q", folderName)
	}
	m := f.find(strconv.FormatUint(uint64(uid), 10))
	if m == nil {
		return fmt.Errorf("no message %d in %q", uid, folderName)
	}
	f.modSeq++
	m.flags, m.modSeq = slices.Clone(flags), f.modSeq
	return nil
}

// Delete expunges a stored message.
func (c *Connector) Delete(user, folderName string, uid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.boxLocked(user).folders[folderName]
	if !ok {
		return
	}
	f.msgs = slices.DeleteFunc(f.msgs, func(m *message) bool { return m.uid == uid })
	f.modSeq++
}

// Renumber gives a folder a new UIDVALIDITY and renumbers its messages
// from 1, as a server does after its index was rebuilt.
func (c *Connector) Renumber(user, folderName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.boxLocked(user).folders[folderName]
	if !ok {
		return
	}
	c.validity++
	f.validity = c.validity
	f.uidNext = 1
	for _, m := range f.msgs {
		m.uid = f.uidNext
		f.uidNext++
	}
}

// Folders returns the names of a user's folders, sorted.
func (c *Connector) FolderNames(user string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n := range c.boxLocked(user).folders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Messages returns copies of the messages in a user's folder, by UID.
func (c *Connector) Messages(user, folderName string) []StoredMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.boxLocked(user).folders[folderName]
	if !ok {
		return nil
	}
	out := make([]StoredMessage, len(f.msgs))
	for i, m := range f.msgs {
		out[i] = StoredMessage{UID: m.uid, Data: slices.Clone(m.data), InternalDate: m.date, Flags: slices.Clone(m.flags)}
	}
	return out
}
