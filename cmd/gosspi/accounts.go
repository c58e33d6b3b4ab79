package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gosspi/gosspi/ntlm"
)

// defaultAccountFile is where `gosspi accounts` keeps the NTLM account
// file unless -file or GOSSPI_NTLM_ACCOUNTS says otherwise.
const defaultAccountFile = "/etc/gosspi/ntlm-accounts"

func init() {
	register(&command{
		name:    "accounts",
		summary: "manage the NTLM account file (NT hashes, never passwords)",
		usage: `usage: gosspi accounts [-file PATH] add [-hash HEX] DOMAIN\user
       gosspi accounts [-file PATH] list
       gosspi accounts [-file PATH] remove DOMAIN\user

Manages the NTLM server's account file. The file keeps the NT hash of each
password (NTOWFv1), never the password; its format is:

    ` + ntlm.HashFileMagic + `
    DOMAIN:user:<32 hex digits>

"add" reads the password from the first line of standard input (or takes
an NT hash with -hash). A user without a domain ("user" or ":user")
matches any domain. The file is rewritten atomically with mode 0600.

The file is -file, else $GOSSPI_NTLM_ACCOUNTS, else ` + defaultAccountFile + `.
An NTLM server reads it through ntlm.LoadHashFile, or through the
"accounts" credential option.`,
		run: runAccounts,
	})
}

func runAccounts(args []string) int {
	fs := flag.NewFlagSet("accounts", flag.ContinueOnError)
	file := fs.String("file", "", "the account file")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), commands["accounts"].usage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	path := *file
	if path == "" {
		path = os.Getenv("GOSSPI_NTLM_ACCOUNTS")
	}
	if path == "" {
		path = defaultAccountFile
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	hf := ntlm.OpenHashFile(path)
	var err error
	switch rest[0] {
	case "add":
		err = accountsAdd(hf, rest[1:])
	case "list":
		err = accountsList(hf)
	case "remove", "rm":
		if len(rest) != 2 {
			fs.Usage()
			return exitUsage
		}
		user, domain := ntlm.SplitUserName(strings.TrimPrefix(rest[1], ":"))
		err = hf.Remove(domain, user)
		if errors.Is(err, ntlm.ErrNoAccount) {
			err = fmt.Errorf("no account %s in %s", rest[1], path)
		} else if err == nil {
			fmt.Printf("removed %s from %s\n", rest[1], path)
		}
	default:
		fs.Usage()
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi accounts:", err)
		return exitFailure
	}
	return exitOK
}

func accountsAdd(hf *ntlm.HashFile, args []string) error {
	fs := flag.NewFlagSet("accounts add", flag.ContinueOnError)
	hash := fs.String("hash", "", "the NT hash (32 hex digits) instead of a password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(`add takes one DOMAIN\user`)
	}
	user, domain := ntlm.SplitUserName(strings.TrimPrefix(fs.Arg(0), ":"))
	if *hash != "" {
		h, err := ntlm.ParseNTHash(*hash)
		if err != nil {
			return err
		}
		if err := hf.AddHash(domain, user, h); err != nil {
			return err
		}
		fmt.Printf("added %s to %s\n", fs.Arg(0), hf.Path())
		return nil
	}
	pw, err := readPassword(os.Stdin, os.Stderr, "password for "+fs.Arg(0)+": ")
	if err != nil {
		return err
	}
	if pw == "" {
		return errors.New("empty password")
	}
	if err := hf.Add(domain, user, pw); err != nil {
		return err
	}
	fmt.Printf("added %s to %s\n", fs.Arg(0), hf.Path())
	return nil
}

func accountsList(hf *ntlm.HashFile) error {
	if _, err := os.Stat(hf.Path()); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s does not exist: create it with `gosspi accounts -file %s add DOMAIN\\user`", hf.Path(), hf.Path())
	}
	l, err := hf.List()
	if err != nil {
		return err
	}
	for _, a := range l {
		if a.Domain == "" {
			fmt.Println(a.User)
		} else {
			fmt.Printf("%s\\%s\n", a.Domain, a.User)
		}
	}
	return nil
}
