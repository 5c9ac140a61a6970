package peer

import "errors"

var errNoCreator = errors.New("proposal carries no creator identity")
