//go:build windows

package keyfile

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fileAllAccess is FILE_ALL_ACCESS (x/sys/windows does not name it).
const fileAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff

// createSecret creates path (which must not exist) with its security
// descriptor in the same call, so no handle to it is ever opened under the
// folder's inherited ACL, and opens it for writing, shared with nobody.
func createSecret(path string, opt Options) (*os.File, error) {
	if opt.Group != "" {
		return nil, errors.New("a group is for Unix; on Windows give the account that reads the key with --acl-account")
	}
	sa, err := secretAttributes(opt)
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_EXISTS) {
			return nil, &os.PathError{Op: "create", Path: path, Err: os.ErrExist}
		}
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// secretAttributes builds the security attributes of a secret file: a
// protected DACL (no inherited entries) granting full control to SYSTEM,
// BUILTIN\Administrators and the current user, and read to opt.Account.
func secretAttributes(opt Options) (*windows.SecurityAttributes, error) {
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return nil, fmt.Errorf("the SYSTEM account's SID: %w", err)
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return nil, fmt.Errorf("the Administrators group's SID: %w", err)
	}
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("current user's SID: %w", err)
	}
	type grant struct {
		sid  *windows.SID
		mask windows.ACCESS_MASK
	}
	grants := []grant{{system, fileAllAccess}, {admins, fileAllAccess}, {user.User.Sid, fileAllAccess}}
	if opt.Account != "" {
		sid, err := accountSID(opt.Account)
		if err != nil {
			return nil, err
		}
		grants = append(grants, grant{sid, windows.FILE_GENERIC_READ})
	}
	var entries []windows.EXPLICIT_ACCESS
	var seen []*windows.SID
	for _, g := range grants {
		if containsSID(seen, g.sid) {
			continue // e.g. running as SYSTEM: one entry, the wider one (first)
		}
		seen = append(seen, g.sid)
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: g.mask,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.NO_INHERITANCE,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeType:  windows.TRUSTEE_IS_UNKNOWN,
				TrusteeValue: windows.TrusteeValueFromSID(g.sid),
			},
		})
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		return nil, fmt.Errorf("build the key file's ACL: %w", err)
	}
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		return nil, fmt.Errorf("key file security descriptor: %w", err)
	}
	if err := sd.SetDACL(acl, true, false); err != nil {
		return nil, fmt.Errorf("key file security descriptor: %w", err)
	}
	if err := sd.SetControl(windows.SE_DACL_PROTECTED, windows.SE_DACL_PROTECTED); err != nil {
		return nil, fmt.Errorf("key file security descriptor: %w", err)
	}
	return &windows.SecurityAttributes{
		Length:             uint32(unsafe.Sizeof(windows.SecurityAttributes{})),
		SecurityDescriptor: sd,
	}, nil
}

func containsSID(sids []*windows.SID, sid *windows.SID) bool {
	for _, s := range sids {
		if s.Equals(sid) {
			return true
		}
	}
	return false
}

// accountSID resolves Options.Account.
func accountSID(account string) (*windows.SID, error) {
	if strings.HasPrefix(strings.ToUpper(account), "S-1-") {
		sid, err := windows.StringToSid(account)
		if err != nil {
			return nil, fmt.Errorf("ACL account %q: not a valid SID: %w", account, err)
		}
		return sid, nil
	}
	if svc, ok := serviceName(account); ok {
		sid, err := windows.StringToSid(serviceSID(svc))
		if err != nil {
			return nil, fmt.Errorf("ACL account %q: %w", account, err)
		}
		return sid, nil
	}
	sid, _, _, err := windows.LookupSID("", account)
	if err != nil {
		return nil, fmt.Errorf("ACL account %q: %w (give DOMAIN\\user, a local account, NT SERVICE\\<service> or a SID S-1-...)", account, err)
	}
	return sid, nil
}

// syncDir does nothing: Windows has no directory fsync.
func syncDir(string) {}
