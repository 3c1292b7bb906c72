# Start rescuetui on the consoles the live image logs in on (tty1 and the first serial port).
# Leaving it drops to a shell; `rescuetui` starts it again.
case "$(tty)" in
    /dev/tty1|/dev/ttyS0)
        [ -n "$RESCUETUI_STARTED" ] || { export RESCUETUI_STARTED=1; rescuetui; }
        ;;
esac
