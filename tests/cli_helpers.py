"Helpers the command-line tests share: run `vae_nb` in-process and read its one-line errors."
import contextlib, io, os
from pathlib import Path
from vae_nb.cli import main

def run_main(*args, cwd:Path|None=None) -> tuple[int, str, str]:
    "`main(args)` in-process, from `cwd`: (status, stdout, stderr). An exception (a traceback in the shell) fails the test."
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        if cwd: os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([*map(str, args)])
    finally: os.chdir(here)
    return code, out.getvalue(), err.getvalue()

def one_line_error(code:int, err:str, status:int=2) -> str:
    "The one line a refused command printed, after checking it exited with `status` and printed nothing else."
    assert code == status and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (code, err)
    return err.strip()
