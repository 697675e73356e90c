"""Flask extensions, created unbound; `create_app` binds them to an app."""
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

login = LoginManager()
login.login_view = "auth.login_page"
login.login_message = "Please sign in to continue."
csrf = CSRFProtect()
htmx = HTMX()
socketio = SocketIO()
