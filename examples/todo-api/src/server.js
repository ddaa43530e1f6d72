import { createApp, PORT } from './app.js';

createApp().listen(PORT, '127.0.0.1', () => console.log(`todo-api on http://127.0.0.1:${PORT}`));
