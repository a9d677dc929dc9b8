package gmailtest_test

import "encoding/base64"

func base64URLDecode(s string) ([]byte, error) { return base64.URLEncoding.DecodeString(s) }
