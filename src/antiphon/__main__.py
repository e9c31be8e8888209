from antiphon.cli import app

app(prog_name="antiphon")
