package app

import "context"

func (m *Main) startBridge(ctx context.Context, goRun func(string, func(context.Context) error)) error {
	return nil
}
