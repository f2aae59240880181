document.querySelector('main').textContent = 'Vamp';
