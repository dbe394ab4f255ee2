//go:build windows

package keyfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// underWine reports whether the test runs under Wine, which does not keep a
// file's security descriptor: it turns the DACL into Unix mode bits and, on
// read, makes up SYSTEM, the owner and Everyone from them.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// aces returns sd's DACL entries and whether the DACL is protected.
func aces(t *testing.T, sd *windows.SECURITY_DESCRIPTOR) (protected bool, list []*windows.ACCESS_ALLOWED_ACE) {
	t.Helper()
	control, _, err := sd.Control()
	if err != nil {
		t.Fatalf("security descriptor control: %v", err)
	}
	acl, _, err := sd.DACL()
	if err != nil {
		t.Fatalf("DACL: %v", err)
	}
	for i := range uint32(acl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(acl, i, &ace); err != nil {
			t.Fatalf("GetAce %d: %v", i, err)
		}
		list = append(list, ace)
	}
	return control&windows.SE_DACL_PROTECTED != 0, list
}

func aceSID(ace *windows.ACCESS_ALLOWED_ACE) *windows.SID {
	return (*windows.SID)(unsafe.Pointer(&ace.SidStart))
}

// checkDACL asserts that sd's DACL is protected and holds exactly one allow
// entry, not inherited, per SID of want, with want's access mask.
func checkDACL(t *testing.T, what string, sd *windows.SECURITY_DESCRIPTOR, want map[string]windows.ACCESS_MASK) {
	t.Helper()
	t.Logf("%s: %s", what, sd)
	protected, list := aces(t, sd)
	if !protected {
		t.Errorf("%s: DACL not protected (SE_DACL_PROTECTED unset): the folder's entries may come back", what)
	}
	got := map[string]windows.ACCESS_MASK{}
	for _, a := range list {
		if a.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			t.Errorf("%s: ACE of type %d", what, a.Header.AceType)
		}
		if a.Header.AceFlags&windows.INHERITED_ACE != 0 {
			t.Errorf("%s: inherited ACE for %s", what, aceSID(a))
		}
		got[aceSID(a).String()] |= a.Mask
	}
	if len(list) != len(want) {
		t.Errorf("%s: %d ACEs, want %d", what, len(list), len(want))
	}
	for sid, mask := range want {
		if got[sid] != mask {
			t.Errorf("%s: %s has mask %#x, want %#x", what, sid, got[sid], mask)
		}
	}
	for sid := range got {
		if _, ok := want[sid]; !ok {
			t.Errorf("%s: unexpected ACE for %s", what, sid)
		}
	}
}

type aclCase struct {
	account string
	want    map[string]windows.ACCESS_MASK
}

// aclCases are the accounts tried and the DACL each must give.
func aclCases(t *testing.T) []aclCase {
	token, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	user := token.User.Sid.String()
	const system, admins = "S-1-5-18", "S-1-5-32-544"
	full := func(extra string, mask windows.ACCESS_MASK) map[string]windows.ACCESS_MASK {
		m := map[string]windows.ACCESS_MASK{system: fileAllAccess, admins: fileAllAccess, user: fileAllAccess}
		if extra != "" {
			m[extra] = mask
		}
		return m
	}
	return []aclCase{
		{"", full("", 0)},
		{`NT SERVICE\linkmesh-probe`, full(serviceSID("linkmesh-probe"), windows.FILE_GENERIC_READ)},
		{"S-1-5-19", full("S-1-5-19", windows.FILE_GENERIC_READ)}, // LOCAL SERVICE
		{"SYSTEM", full("", 0)}, // already there: one entry, full control
	}
}

// The security descriptor a key file is created with: protected, and exactly
// SYSTEM, Administrators and the current user with full control, plus read
// for the named account. (Wine runs this one.)
func TestSecretDescriptor(t *testing.T) {
	for _, tc := range aclCases(t) {
		sa, err := secretAttributes(Options{Account: tc.account})
		if err != nil {
			t.Fatalf("account %q: %v", tc.account, err)
		}
		checkDACL(t, "account "+tc.account, sa.SecurityDescriptor, tc.want)
	}
	if _, err := secretAttributes(Options{Account: `NO SUCH DOMAIN\nobody-here`}); err == nil {
		t.Error("an unknown account: no error")
	}
}

// The key file on disk has that DACL — also in a folder that grants Everyone
// everything, which a file written with os.WriteFile inherits.
func TestWriteACL(t *testing.T) {
	if underWine() {
		t.Skip("Wine does not keep a file's DACL (it maps it to Unix mode bits and makes up SYSTEM+owner+Everyone on read): run on Windows")
	}
	dir := tempDir(t)
	open, err := windows.SecurityDescriptorFromString("D:(A;OICI;FA;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	openDACL, _, err := open.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, openDACL, nil); err != nil {
		t.Fatalf("open the folder to Everyone: %v", err)
	}
	control := filepath.Join(dir, "control.txt")
	if err := os.WriteFile(control, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(control, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if _, list := aces(t, sd); !slices.ContainsFunc(list, func(a *windows.ACCESS_ALLOWED_ACE) bool {
		return a.Header.AceFlags&windows.INHERITED_ACE != 0 && aceSID(a).String() == "S-1-1-0"
	}) {
		t.Fatalf("control: os.WriteFile's file %s does not inherit Everyone from the folder; the test would prove nothing", sd)
	}

	path := filepath.Join(dir, "probe.key")
	for _, tc := range aclCases(t) {
		if err := Write(path, []byte("secret\n"), Options{Account: tc.account}); err != nil {
			t.Fatalf("account %q: %v", tc.account, err)
		}
		sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatalf("GetNamedSecurityInfo %s: %v", path, err)
		}
		checkDACL(t, "file, account "+tc.account, sd, tc.want)
		if b, err := os.ReadFile(path); err != nil || string(b) != "secret\n" {
			t.Errorf("account %q: read back %q, %v", tc.account, b, err)
		}
	}
	if extra := leftovers(t, dir, "probe.key", "control.txt"); len(extra) > 0 {
		t.Errorf("left behind: %v", extra)
	}
}
