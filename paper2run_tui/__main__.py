from paper2run_tui.cli import main

raise SystemExit(main())
